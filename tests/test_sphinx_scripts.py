"""The page-script de-duplication extension."""

from sphinx.builders.html._assets import _JavaScript

from nhmg_lib.book.sphinx_scripts import dedupe_scripts


def test_same_inline_script_added_twice_is_emitted_once():
    body = 'const THEBE_JS_URL = "x"'
    first, again = _JavaScript(None, body=body), _JavaScript("", body=body)
    other = _JavaScript(None, body="const y = 1")
    plotly = _JavaScript("plotly.min.js")
    context = {"script_files": [first, plotly, again, other, plotly]}
    dedupe_scripts(None, "page", "page.html", context, None)
    assert context["script_files"] == [first, plotly, other]
