"""Every chapter starts with one ``parameters`` cell, and each parameter changes what it should.

The static tests read the chapters: the first code cell is tagged ``parameters`` and assigns the
five parameters as plain literals, the next one passes all five into ``ChapterParameters``, and
no later cell fixes a resample count or rebuilds the cohort behind the parameters' back.

The run tests execute each chapter once, with one non-default parameter injected after its
parameters cell (as papermill does), on small synthetic data with few resamples, and check the
changed outputs against values computed here from the library: the energy exclusion takes the
implausible intakes out of the cohort's domain, ``np_index="score"`` gives NP rows computed
untransformed in Tables 4 and 7, a fixed definition narrows the multiverse, and so on.
"""

from __future__ import annotations

import ast
import math
import os
import re

import pytest

from nhmg_lib.book import notebooks
from nhmg_lib.analyses.models import exclude_energy
from nhmg_lib.book.parameters import FIELDS, ChapterParameters
from nhmg_lib.report.tables import TABLE_MIME

CHAPTERS = notebooks.chapters()
STEMS = [p.stem for p in CHAPTERS]
RESAMPLES = 10


# --------------------------------------------------------------------------- static checks

def _code_cells(path):
    return [c for c in notebooks.read_chapter(path).cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", CHAPTERS, ids=STEMS)
def test_first_code_cell_is_the_parameters_cell(path):
    cells = _code_cells(path)
    first = cells[0]
    assert "parameters" in first.metadata.get("tags", ()), path.stem
    tree = ast.parse(first.source)
    names = []
    for node in tree.body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, (path.stem, ast.dump(node))
        names.append(node.targets[0].id)
        ast.literal_eval(node.value)  # plain values only: papermill can override them
    assert tuple(names) == FIELDS, path.stem
    assert sum("parameters" in c.metadata.get("tags", ()) for c in cells) == 1, path.stem
    setup = cells[1].source.replace("\n", " ")
    for name in FIELDS:
        assert f"{name}={name}" in setup, (path.stem, name)
    assert "chapter.setup(params)" in setup, path.stem


@pytest.mark.parametrize("path", CHAPTERS, ids=STEMS)
def test_no_cell_bypasses_the_parameters(path):
    later = "\n".join(c.source for c in _code_cells(path)[1:])
    for bypass in ("chapter.load_cohort(", "boot=1000", "boot=200", "Definitions(",
                   "collect(context"):
        assert bypass not in later, (path.stem, bypass)


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="np_index"):
        ChapterParameters(definitions={"np_index": "scroe"})
    with pytest.raises(ValueError, match="not open definitions"):
        ChapterParameters(definitions={"np": "score"})
    with pytest.raises(ValueError, match="contrast"):
        ChapterParameters(contrast="q1-q4")
    with pytest.raises(ValueError, match="weighting"):
        ChapterParameters(weighting="normalized")
    with pytest.raises(ValueError, match="resamples"):
        ChapterParameters(resamples=0)
    with pytest.raises(ValueError, match="energy_exclusion"):
        ChapterParameters(energy_exclusion="yes")
    p = ChapterParameters(definitions={"np_index": "score"}, weighting="none", resamples=50)
    assert p.defs.np_index == "score" and p.changed() == {
        "definitions": {"np_index": "score"}, "weighting": "none", "resamples": 50}
    assert p.describe() == "NP index: score; mediation weights: unweighted; 50 bootstrap resamples"
    assert ChapterParameters().describe() == "the book's defaults"
    assert p.multiverse_settings() == {"np_index": ["score"], "mediation_weighting": ["none"]}
    assert ChapterParameters(energy_exclusion=True).multiverse_settings() == {"energy_exclusion": ["yes"]}


def test_injected_cell_follows_the_parameters_cell():
    nb = notebooks.read_chapter(CHAPTERS[0])
    at = notebooks.parameters_cell(nb)
    notebooks.inject_parameters(nb, {"energy_exclusion": True, "definitions": {"np_index": "score"}})
    cell = nb.cells[at + 1]
    assert "injected-parameters" in cell.metadata["tags"]
    ns: dict = {}
    exec(nb.cells[at].source + "\n" + cell.source, ns)
    assert ns["energy_exclusion"] is True and ns["definitions"] == {"np_index": "score"}
    assert ns["contrast"] == "q1q4"  # the others keep the chapter's values
    with pytest.raises(ValueError, match="not chapter parameters"):
        notebooks.inject_parameters(nb, {"boot": 5})


def test_energy_exclusion_narrows_the_domain_not_the_design(synthetic_cohort):
    from nhmg_lib.analyses.models import energy_excluded

    cohort = synthetic_cohort
    out = exclude_energy(cohort)
    gone = energy_excluded(cohort.adults)
    assert gone > 0
    assert len(out.adults) == len(cohort.adults)  # every adult (and PSU) stays in the design
    assert out.final_n == cohort.final_n - gone == len(out.frame)
    assert [s.key for s in out.flow][-2:] == ["energy", "final"]
    assert out.flow[-2].n_excluded == gone
    assert (out.adults["mg_q"].fillna(0) == cohort.adults["mg_q"].fillna(0)).all()  # same quartiles
    assert exclude_energy(out).final_n == out.final_n  # applying it twice changes nothing


@pytest.fixture(scope="module")
def synthetic_cohort(synthetic_dir):
    from nhmg_lib.cohort.flow import cohort_from_dir

    return cohort_from_dir(synthetic_dir)


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    from nhmg_lib.data.synthetic import write_synthetic

    out = tmp_path_factory.mktemp("synthetic-nhanes")
    write_synthetic(out, seed=1, scale=0.15)
    return out


# --------------------------------------------------------------------------- chapter runs

#: chapter -> the non-default parameters it runs with here.
CHANGES: dict[str, dict] = {
    "intro": {"energy_exclusion": True},
    "data_and_cohort": {"energy_exclusion": True},
    "characteristics": {"definitions": {"covariates_required": "model3"}},
    "magnesium_lmm_smi": {"energy_exclusion": True},
    "dose_response": {"energy_exclusion": True},
    "subgroups": {"definitions": {"drinking": "past_year_any"}},
    "inflammation": {"definitions": {"np_index": "score"}},
    "mediation": {"definitions": {"np_index": "score"}},
    "robustness": {"definitions": {"race": "ridreth3"}},
    # every definition fixed (most at their defaults) and the energy rule on: a small grid
    "multiverse": {"energy_exclusion": True, "definitions": {
        "np_index": "product", "magnesium": "diet", "egfr_equation": "ckd_epi_2009",
        "drinking": "nhanes_lifetime_12", "physical_activity": "who_600_met",
        "random_glucose": "ogtt_2h", "race": "ridreth1", "weight": "wtdr2d",
        "lean_mass": "bone_free"}},
    "scorecard": {"energy_exclusion": True},
    "run_it_yourself": {"weighting": "none"},
    "provenance": {"contrast": "iqr"},
}


def test_every_chapter_has_a_change_to_test():
    assert set(CHANGES) == set(STEMS)


@pytest.fixture(scope="module")
def changed_runs(book_data_env, synthetic_dir, tmp_path_factory):
    """``{chapter: executed notebook}``, each run (when first read) with its :data:`CHANGES`
    and few resamples."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NHMG_")}
    env.update(book_data_env)
    env.update({"NHMG_DATA": "synthetic", "NHMG_DATA_DIR": str(synthetic_dir),
                "NHMG_SYNTH_SCALE": "0.15",
                "PYTHONPATH": os.pathsep.join(p for p in (str(CHAPTERS[0].parents[1]),
                                                           os.environ.get("PYTHONPATH", "")) if p)})
    env.pop("MPLBACKEND", None)
    return _Runs(env)


class _Runs(dict):
    """Chapters run on first use (a test needs only the chapters it reads), then kept."""

    def __init__(self, env):
        super().__init__()
        self.env = env

    def __missing__(self, stem):
        path = next(p for p in CHAPTERS if p.stem == stem)
        params = {"resamples": RESAMPLES, **CHANGES[stem]}
        self[stem] = notebooks.execute(notebooks.read_chapter(path), cwd=path.parent,
                                       timeout=600, env=self.env, parameters=params)
        return self[stem]


def _glued(nb) -> dict[str, object]:
    out = {}
    for name, bundle in notebooks.glued(nb).items():
        raw = bundle.get("text/plain")
        if raw is None:
            continue
        raw = "".join(raw) if isinstance(raw, list) else raw
        try:
            out[name] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[name] = raw
    return out


def _tables(nb) -> dict[str, dict]:
    found = {}
    for cell in nb.cells:
        for o in cell.get("outputs", ()) if cell.cell_type == "code" else ():
            payload = (o.get("data") or {}).get(TABLE_MIME)
            if payload:
                found[payload.get("name") or f"unnamed-{len(found)}"] = payload
    return found


def _shown_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", ()) if cell.cell_type == "code" else ():
            data = o.get("data") or {}
            for mime in ("text/markdown", "text/html", "text/plain"):
                if mime in data:
                    v = data[mime]
                    parts.append("".join(v) if isinstance(v, list) else str(v))
                    break
    return "\n".join(parts)


def _cohort(synthetic_dir, **params):
    from nhmg_lib.data.datamode import DataContext

    context = DataContext(data_dir=synthetic_dir, mode="synthetic", reason="test", manifest_hash="")
    return ChapterParameters(**params).cohort(context)



@pytest.mark.book
@pytest.mark.slow
@pytest.mark.parametrize("stem", STEMS)
def test_changed_parameters_are_announced(changed_runs, stem):
    text = _shown_text(changed_runs[stem])
    expected = ChapterParameters(**{"resamples": RESAMPLES, **CHANGES[stem]}).describe()
    assert "Parameters changed" in text and expected in text, stem


@pytest.mark.book
@pytest.mark.slow
def test_energy_exclusion_reaches_the_cohort_chapters(changed_runs, synthetic_dir):
    from nhmg_lib.analyses import models, splines

    full = _cohort(synthetic_dir)
    narrowed = _cohort(synthetic_dir, energy_exclusion=True)
    gone = models.energy_excluded(full.adults)
    assert gone > 0 and narrowed.final_n == full.final_n - gone
    # data and cohort: the flow ends at the narrowed cohort
    assert _glued(changed_runs["data_and_cohort"])["n_final"] == narrowed.final_n
    # Tables 2 and 3 now use the domain of Tables S1 and S2: the same cells
    t = _tables(changed_runs["magnesium_lmm_smi"])

    def own(name):  # the book's rows (the grey paper lines differ between the exhibits)
        p = t[name]
        flags = p.get("row_is_paper") or [False] * len(p["cells"])
        return [c for c, paper in zip(p["cells"], flags) if not paper]

    assert own("table-2") == own("table-s1") and len(own("table-2")) == 6
    assert own("table-3") == own("table-s2")
    # dose-response: the spline is fitted on the narrowed domain
    fit = splines.fit_spline(narrowed.adults, "lmm")
    assert _glued(changed_runs["dose_response"])["p_all_lmm"] == models.format_p(fit.p_overall)
    # the introduction's and the scorecard's records come from the narrowed cohort
    for stem in ("intro", "scorecard"):
        assert f"{narrowed.final_n:,}" in _shown_text(changed_runs[stem]), stem


@pytest.mark.book
@pytest.mark.slow
def test_definitions_reach_the_cohort_and_the_models(changed_runs, synthetic_dir):
    looser = _cohort(synthetic_dir, definitions={"covariates_required": "model3"})
    assert _glued(changed_runs["characteristics"])["n_cohort"] == looser.final_n
    assert looser.final_n >= _cohort(synthetic_dir).final_n
    # subgroups: drinking coded past-year-any changes who is "current"
    from nhmg_lib.analyses import subgroups

    recoded = _cohort(synthetic_dir, definitions={"drinking": "past_year_any"})
    lmm = subgroups.subgroup_analysis(recoded.adults, "lmm")
    expected = subgroups.interaction_frame({"LMM": lmm}).loc["Hypertension", "LMM"]
    assert _glued(changed_runs["subgroups"])["p_int_htn"] == expected


@pytest.mark.book
@pytest.mark.slow
def test_np_score_is_computed_untransformed_in_tables_4_and_7(changed_runs):
    t4 = _tables(changed_runs["inflammation"])["table-4"]
    assert any("NP score" in str(label) for label in t4["row_labels"]), t4["row_labels"]
    for name in ("table-7", "table-8"):
        t = _tables(changed_runs["mediation"])[name]
        labels = t["row_labels"]
        np_rows = [i for i, label in enumerate(labels) if label == "NP"]
        assert len(np_rows) == 3, (name, labels)  # one per contrast: never dropped
        notes = " ".join(t["footnotes"])
        for i in np_rows:
            cells = " ".join(t["cells"][i])
            # computed (untransformed), or shown with the reason it could not be
            assert ("modelled untransformed" in notes and re.search(r"\d\.\d", cells)) or (
                "not estimable" in cells and "NP: not estimable (" in notes), (name, cells)


@pytest.mark.book
@pytest.mark.slow
def test_robustness_starts_from_the_chosen_definitions(changed_runs):
    t = _tables(changed_runs["robustness"])["table-robustness-options"]
    labels = [" ".join(map(str, lab)) if isinstance(lab, list) else str(lab) for lab in t["row_labels"]]
    text = " | ".join(labels)
    assert "five groups" in text and "six groups" not in text, text  # race: ridreth1 is the alternative now


@pytest.mark.book
@pytest.mark.slow
def test_multiverse_grid_follows_the_fixed_choices(changed_runs):
    from nhmg_lib.analyses import multiverse

    params = ChapterParameters(**CHANGES["multiverse"])
    grid = multiverse.grid(params.multiverse_settings())
    n = math.prod(len(v) for v in grid.values())
    g = _glued(changed_runs["multiverse"])
    # the choices left open: covariates required, vitamin D, energy adjustment of magnesium,
    # the LMM definition and the covariate set (2 x 2 x 3 x 2 x 2), times the two mediation
    # weightings of the curve
    assert int(str(g["mv_n_grid"]).replace(",", "")) == n == 48 * 2
    assert g["mv_n_boot_med"] == RESAMPLES

