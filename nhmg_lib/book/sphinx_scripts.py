"""Sphinx extension: emit each script of a page once.

jupyter-book 1.0.4 runs sphinx-thebe's ``env-before-read-docs`` hook twice, so every page
declares ``const THEBE_JS_URL`` twice and the browser reports a SyntaxError in the console.
Removing exact duplicates from the page's script list (same file, same inline body, same
attributes) changes nothing else.
"""

from __future__ import annotations

from typing import Any


def _key(script: Any) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    # An inline script's filename is None or "" depending on who added it: the same script.
    filename = getattr(script, "filename", str(script)) or ""
    return (filename, tuple(sorted((k, str(v)) for k, v in attributes.items())))


def dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = _key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    # In place: the list is the builder's, and later handlers (MathJax) append to it.
    scripts[:] = unique


def setup(app: Any) -> dict[str, Any]:
    # Early: html-page-context is emitted "first result wins", so a late handler may never run.
    app.connect("html-page-context", dedupe_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
