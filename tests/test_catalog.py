"""The file catalogue and the definitions object."""

import pytest

from nhmg_lib.data.catalog import CYCLES, DEMO_ROWS, FileSpec, files_for
from nhmg_lib.cohort.definitions import DEFAULT, OPTIONS, Definitions


def test_every_cycle_has_its_files():
    names = {f.name for f in files_for()}
    assert {"DEMO_G", "DXX_H", "DR2TOT_I", "DS1TOT_J", "VID_J", "ALB_CR_G"} <= names
    # hs-CRP starts in 2015-16 and the OGTT ends with it.
    assert "HSCRP_G" not in names and "HSCRP_H" not in names and {"HSCRP_I", "HSCRP_J"} <= names
    assert "OGTT_J" not in names and "OGTT_I" in names
    assert len(files_for(["G"])) == 20 and len(files_for(["J"])) == 20


def test_alcohol_items_follow_the_2017_redesign():
    assert "ALQ120Q" in FileSpec("ALQ", "H").columns
    assert FileSpec("ALQ", "J").columns == ["SEQN", "ALQ111", "ALQ121"]


def test_filename_and_unknown_cycle():
    assert FileSpec("DEMO", "G").filename == "DEMO_G.xpt"
    with pytest.raises(ValueError, match="unknown NHANES cycle"):
        files_for(["K"])


def test_pooled_demo_rows_equal_paper_total():
    # 2.1 of the paper: 39,156 participants over the four cycles.
    assert sum(DEMO_ROWS.values()) == 39156 and list(CYCLES) == ["G", "H", "I", "J"]


def test_definitions_defaults_are_first_options_and_validated():
    for name, values in OPTIONS.items():
        assert getattr(DEFAULT, name) == next(iter(values))
    with pytest.raises(ValueError, match="np_index='ratio' is not an option"):
        Definitions(np_index="ratio")
    changed = DEFAULT.with_(np_index="score")
    assert changed.changed_from_default() == {"np_index": "score"}


def test_published_numbers_print_as_in_the_paper():
    from nhmg_lib.report import published

    assert published.text("tableS3/lmm/above") == "0.06 (0.02, 0.19)"
    assert published.text("fig2/lmm/p_nonlinear") == "0.012"
    assert published.mediated_text("table7") == "18% by NP, 13% by PAR and 21% by RAR"
    assert len({v.id for v in published.VALUES}) == len(published.VALUES)
