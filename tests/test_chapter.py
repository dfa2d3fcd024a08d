"""What a chapter shows about its data: the synthetic-data box (nhmg_lib.book.chapter)."""

from __future__ import annotations

from pathlib import Path

from nhmg_lib.book import chapter
from nhmg_lib.data.datamode import DataContext

OFFLINE = ("the real NHANES files are not available (cannot connect to wwwn.cdc.gov:443 "
           "(gaierror: [Errno -2] Name or service not known))")


def _ctx(reason: str) -> DataContext:
    return DataContext(Path("/tmp/x"), "synthetic", reason, "abc", synthetic_seed=1)


def test_a_failed_connection_reads_no_network():
    plain = chapter.plain_reason(OFFLINE)
    assert "no network" in plain and "gaierror" not in plain and "Errno" not in plain
    assert chapter.plain_reason("synthetic data were requested (data mode synthetic)") == \
        "synthetic data were requested (data mode synthetic)"
    assert chapter.plain_reason("the real NHANES files are not available (checksum mismatch)") == \
        "the real NHANES files are not available"


def test_banner_is_one_short_box_without_internals():
    b = chapter.Banner(_ctx(OFFLINE))
    html = b._repr_html_()
    assert html.count('class="nhmg-banner"') == 1
    assert "gaierror" not in html and "wwwn.cdc.gov" not in html and "no network" in html
    md = b._repr_markdown_()
    # the PDF box is titled "Synthetic data", not "Danger"
    assert md.startswith(":::{admonition} Synthetic data\n:class: warning\n")
    assert "danger" not in md.lower() and "gaierror" not in md
    statement = chapter.data_statement(_ctx(OFFLINE))
    assert "**" not in statement and "gaierror" not in statement and "no network" in statement
