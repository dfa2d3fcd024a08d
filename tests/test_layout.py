"""The package tree keeps its architecture: imports flow one way, the survey engine stands alone.

Read from the source (every ``import``, lazy or not, including ``if TYPE_CHECKING`` blocks),
so a new module that imports upwards or closes a cycle fails here, not in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "nhmg_lib"

#: Lower rank = further down the pipeline; a module may import only lower ranks or its own
#: subpackage. ``errors`` and ``__version__`` sit below everything.
RANK = {"data": 0, "cohort": 1, "survey": 1, "analyses": 2, "report": 3, "book": 4, "cli": 5}
BASE = {"errors", "__version__"}
#: Third-party modules the survey engine may use: it must lift out as a package of its own.
SURVEY_THIRD_PARTY = {"numpy", "scipy", "pandas"}


def _module(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (PKG.parent / rel.with_suffix(".py")).is_file() or (PKG.parent / rel / "__init__.py").is_file()


def _imports(path: Path) -> list[tuple[str, int]]:
    """(absolute module imported, line) for every import statement in ``path``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                out.append(("<relative>", node.lineno))
            elif node.module and node.module.startswith("nhmg_lib"):
                # "from nhmg_lib.report import tables" imports the module nhmg_lib.report.tables
                for a in node.names:
                    sub = f"{node.module}.{a.name}"
                    out.append((sub if _is_module(sub) else node.module, node.lineno))
            elif node.module:
                out.append((node.module, node.lineno))
    return out


SOURCES = sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)
GRAPH = {_module(p): _imports(p) for p in SOURCES}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_module_sits_in_a_known_subpackage() -> None:
    loose = [m for m in GRAPH if _layer(m) not in RANK and _layer(m) not in BASE and _layer(m)]
    assert loose == [], f"modules outside the subpackages {sorted(RANK)}: {loose}"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_flow_downwards(module: str) -> None:
    layer = _layer(module)
    bad = []
    for target, line in GRAPH[module]:
        if target == "<relative>":
            bad.append(f"line {line}: relative import (write nhmg_lib.<subpackage>.<module>)")
            continue
        if not target.startswith("nhmg_lib.") or layer is None:
            continue
        other = _layer(target)
        if other in BASE or other == layer:
            continue
        if layer == "survey" or layer in BASE or RANK.get(other, 99) >= RANK[layer]:
            bad.append(f"line {line}: {module} ({layer}) imports {target} ({other})")
    assert bad == [], "\n".join(bad)


def test_survey_engine_needs_only_numpy_scipy_pandas() -> None:
    bad = []
    for module, imports in GRAPH.items():
        if _layer(module) != "survey":
            continue
        for target, line in imports:
            top = target.split(".")[0]
            if top in ("nhmg_lib", "__future__") or top in SURVEY_THIRD_PARTY:
                if top == "nhmg_lib" and _layer(target) not in ("survey", "errors"):
                    bad.append(f"{module}:{line} imports {target}")
                continue
            if top in _stdlib():
                continue
            bad.append(f"{module}:{line} imports {target}")
    assert bad == [], "\n".join(bad)


def _stdlib() -> frozenset[str]:
    import sys

    return frozenset(sys.stdlib_module_names)


def test_no_import_cycle_between_modules() -> None:
    edges = {m: {t for t, _ in imps if t in GRAPH and t != m} for m, imps in GRAPH.items()}
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        seen[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if seen.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if t not in seen:
                visit(t)
        stack.pop()
        seen[m] = 2

    for m in sorted(edges):
        if m not in seen:
            visit(m)


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The rule is not vacuous: a survey module importing a cohort module is caught."""
    p = tmp_path / "x.py"
    p.write_text("import numpy\nfrom nhmg_lib.cohort.definitions import DEFAULT\n"
                 "def f():\n    from nhmg_lib.report import tables\n")
    found = [t for t, _ in _imports(p)]
    assert found == ["numpy", "nhmg_lib.cohort.definitions", "nhmg_lib.report.tables"]
    assert RANK[_layer("nhmg_lib.report.tables")] > RANK[_layer("nhmg_lib.analyses.models")]
