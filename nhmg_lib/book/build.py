"""``nhmg build``: build the book (HTML, or PDF with ``pdf=True``) on real or synthetic data.

1. Resolve the data once (:func:`nhmg_lib.data.datamode.resolve_data`) and pass it to every chapter
   kernel through the environment (``NHMG_DATA_DIR``, ``NHMG_DATA_MODE``, ...).
2. Key the execution cache. Jupyter Book's cache (``execute_notebooks: cache``) hashes only
   cell text, so a change to ``nhmg_lib`` or to the data would otherwise leave stale outputs.
   The key (library version + hash of the library's source + data manifest hash + data mode)
   is stored in ``_build/.nhmg-cache-key``; when it changes, or with ``force``, the cache
   ``_build/.jupyter_cache`` is cleared and every page is rebuilt.
3. Write a generated config (``_build/.nhmg/_config.yml``: ``_config.yml`` plus, on synthetic
   data, the theme's announcement bar, so every page says so) and run
   ``jupyter-book build -W`` with output streamed; a failing cell fails the build.

Returns the path of ``index.html`` (HTML) or of the PDF.
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Mapping

from nhmg_lib import __version__
from nhmg_lib.data.datamode import DataContext, resolve_data
from nhmg_lib.errors import NhmgError
from nhmg_lib.report.provenance import library_hash

__all__ = ["build", "cache_key", "BookBuildError", "book_root", "first_cause"]

KEY_FILE = ".nhmg-cache-key"
ANNOUNCEMENT = (
    "<strong>SYNTHETIC DATA</strong> &mdash; this build of the book runs on synthetic, "
    "NHANES-shaped data: its numbers test the code and estimate nothing. "
    "Run <code>nhmg download</code> then <code>nhmg build --data real</code> for the replication."
)

LATEX_WATERMARK = (
    "\\usepackage{draftwatermark}\n"
    "\\DraftwatermarkOptions{text={SYNTHETIC DATA},color={[rgb]{1,0.86,0.86}},scale=0.42,angle=45}\n"
)


class BookBuildError(NhmgError):
    """The book did not build (a failing cell, a Sphinx warning under -W, missing tools)."""


def book_root() -> Path:
    """The repository root holding ``_config.yml`` and ``_toc.yml``."""
    return Path(__file__).resolve().parents[2]


def cache_key(context: DataContext) -> str:
    """What the chapters' outputs depend on besides their own text."""
    parts = {
        "version": __version__,
        "library": library_hash(),
        "data": context.manifest_hash,
        "mode": context.mode,
        "seed": context.synthetic_seed,
        "scale": context.synthetic_scale,
        "python": sys.version.split()[0],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _sync_plotly_js(root: Path) -> None:
    """Serve plotly.js from the book's ``_static`` (no CDN): copy the installed plotly's bundle
    there when it is missing or differs."""
    try:
        import plotly
    except ImportError:
        return
    src = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    dst = root / "book" / "_static" / "plotly.min.js"
    if src.is_file() and not (dst.is_file() and filecmp.cmp(src, dst, shallow=False)):
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_suffix(".js.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)


#: The timing record of the last complete build (every chapter executed), which the summary
#: page quotes; its path reaches the chapter kernels as ``NHMG_BUILD_TIMING``.
TIMING_FILE = ".nhmg/timing.json"


def read_timing(path: str | os.PathLike | None = None) -> dict | None:
    """The last complete build's timing record (``seconds``, ``format``, ``finished_utc``,
    ``data``), or None when no build has recorded one."""
    path = path or os.environ.get("NHMG_BUILD_TIMING")
    try:
        return json.loads(Path(path).read_text()) if path else None
    except (OSError, ValueError):
        return None


def _write_timing(path: Path, seconds: float, pdf: bool, context: DataContext) -> None:
    from datetime import datetime, timezone

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "seconds": round(seconds, 1), "format": "pdf" if pdf else "html", "data": context.mode,
        "finished_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}) + "\n")


def _write_config(root: Path, build_dir: Path, context: DataContext, pdf: bool = False) -> Path:
    """``_config.yml`` plus the build's overrides, written under ``_build/.nhmg``."""
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text()) or {}
    sphinx_cfg = config.setdefault("sphinx", {}).setdefault("config", {})
    if pdf:  # the web book hides the code behind a toggle; paper cannot toggle
        sphinx_cfg["nb_remove_code_source"] = True
    else:  # the web book links the typeset book once it has been built (no dead link before)
        book_pdf = build_dir / "latex" / "book.pdf"
        sphinx_cfg["nhmg_book_pdf"] = str(book_pdf) if book_pdf.is_file() else ""
    theme = sphinx_cfg.setdefault("html_theme_options", {})
    if context.synthetic:
        theme["announcement"] = ANNOUNCEMENT
        # The PDF says so on every page too: a light diagonal watermark.
        latex = sphinx_cfg.setdefault("latex_elements", {})
        latex["preamble"] = (latex.get("preamble") or "") + LATEX_WATERMARK
    else:
        theme.pop("announcement", None)
    out = build_dir / ".nhmg" / "_config.yml"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = "# Generated by nhmg build from _config.yml; edit that file instead.\n" + \
        yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    if not out.is_file() or out.read_text() != text:  # unchanged file: Sphinx sees no change
        out.write_text(text)
    return out


def _jupyter_book() -> list[str]:
    exe = Path(sys.executable).parent / "jupyter-book"
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("jupyter-book")
    if found:
        return [found]
    raise BookBuildError(
        "jupyter-book is not installed in this environment; run `make venv` (or "
        "`pip install -r requirements.txt`) first.")


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b:?.*")
_SAVED = re.compile(r"Notebook exception traceback saved in: (\S+)")


def _run_streamed(cmd: list[str], cwd: Path, env: Mapping[str, str]) -> tuple[int, list[str]]:
    """Run ``cmd`` echoing its output as it comes (to stderr) and keep the lines.

    The command runs in a session of its own, so a Ctrl-C at the terminal reaches this
    process alone; it then stops the whole tree (jupyter-book and its kernels, which run in
    sessions of their own too) quietly, instead of each printing a traceback."""
    lines: list[str] = []
    with subprocess.Popen(cmd, cwd=cwd, env=dict(env), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace",
                          start_new_session=True) as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                sys.stderr.write(line)
                lines.append(line.rstrip("\n"))
        except BaseException:
            _stop_tree(proc.pid)
            raise
    sys.stderr.flush()
    return proc.returncode, lines


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first), read from /proc; [] elsewhere."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def _stop_tree(pid: int, grace: float = 3.0) -> None:
    """SIGTERM ``pid`` and everything below it, then SIGKILL what is left after ``grace`` s."""
    import signal

    tree = [pid] + _descendants(pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in tree:
            try:
                os.kill(p, sig)
            except OSError:
                pass
        until = time.monotonic() + grace
        while time.monotonic() < until and any(_running(p) for p in tree):
            time.sleep(0.05)


def _running(pid: int) -> bool:
    """Alive and not a zombie (Linux /proc; elsewhere: assumed gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


#: Lines that look like warnings but never fail a build (kernel start-up, config notes).
_HARMLESS = re.compile(r"\[IPKernelApp\] WARNING|Kernel is running over TCP|Debugger warning|"
                       r"unknown config value|frozen modules")
_EXECUTING = re.compile(r"^(\S+\.(?:md|ipynb)): Executing notebook")
_CELL = re.compile(r"^(?:Cell In ?\[(\d+)\], line (\d+)|Input In \[(\d+)\])")


def _chapter_of(log: Path) -> str:
    parts = log.parts[log.parts.index("reports") + 1:] if "reports" in log.parts else log.parts[-1:]
    return "/".join(parts).removesuffix(".err.log") + ".md"


def _failed_cell(text: list[str]) -> str:
    """``code cell N (line L: `first source line`)`` from a notebook's exception log."""
    marks = [i for i, t in enumerate(text) if t.startswith("------------------")]
    source = next((t for t in text[marks[0] + 1:marks[1]] if t.strip()), "") if len(marks) > 1 else ""
    for t in text:
        m = _CELL.match(t)
        if m:
            number, line = m.group(1) or m.group(3), m.group(2)
            where = f"code cell {number}" + (f", line {line}" if line else "")
            return where + (f" (`{source.strip()[:60]}`)" if source else "")
    return f"the cell `{source.strip()[:60]}`" if source else ""


def _notebook_cause(clean: list[str]) -> str | None:
    """The first chapter whose execution failed, with its cell and exception line."""
    for line in clean:
        saved = _SAVED.search(line)
        if not saved:
            continue
        log = Path(saved.group(1))
        cell = exc = ""
        if log.is_file():
            text = [_ANSI.sub("", t).rstrip() for t in log.read_text(errors="replace").splitlines()]
            found = [t.strip() for t in text if _EXCEPTION.match(t.strip())]
            exc = found[-1] if found else ""
            cell = _failed_cell(text)
        return (f"the chapter {_chapter_of(log)} failed" + (f" in {cell}" if cell else "") +
                (f" with {exc}" if exc else "") + f" (its full traceback: {log})")
    return None


def _crash_cause(clean: list[str]) -> str | None:
    """Sphinx stopped on an exception ("Exception occurred:", e.g. a kernel that died): the
    exception line and the chapter that was executing then."""
    for i, line in enumerate(clean):
        if line.strip() != "Exception occurred:":
            continue
        exc = next((t.strip() for t in clean[i + 1:i + 40] if _EXCEPTION.match(t.strip())), "")
        chapter = next((m.group(1) for t in reversed(clean[:i]) if (m := _EXECUTING.match(t))), "")
        where = f"the chapter {chapter} stopped the build" if chapter else "Sphinx stopped"
        hint = " (the kernel died: out of memory, or killed)" if "DeadKernelError" in exc else ""
        return f"{where} with {exc or 'an exception'}{hint}"
    return None


def first_cause(output: list[str]) -> str:
    """One paragraph naming the first real cause of a failed build: the failing chapter, its
    cell and the exception line of its executed notebook's log; else the exception that
    stopped Sphinx and the chapter it was executing; else the first error, then the first
    warning that is not a known harmless one (kernel start-up notes)."""
    clean = [_ANSI.sub("", line) for line in output]
    cause = _notebook_cause(clean) or _crash_cause(clean)
    if cause:
        return f"First cause: {cause}."
    candidates = [line.strip() for line in clean if not _HARMLESS.search(line)]
    tests = (lambda t: re.search(r"\b(ERROR|CRITICAL)\b", t), _EXCEPTION.match,
             lambda t: re.search(r"\bWARNING\b", t))
    for test in tests:
        hit = next((line for line in candidates if test(line)), None)
        if hit:
            return f"First cause: {hit}"
    tail = next((line.strip() for line in reversed(clean) if line.strip()), "")
    return f"No warning or error was printed; the last line was: {tail}" if tail else \
        "jupyter-book printed nothing."


def build(pdf: bool = False, data: str | None = None, force: bool = False, *,
          root: str | os.PathLike | None = None, path_output: str | os.PathLike | None = None,
          context: DataContext | None = None, env: Mapping[str, str] | None = None,
          quiet: bool = False) -> Path:
    """Build the book and return the path of ``index.html`` (or of the PDF with ``pdf``).

    ``data``: ``auto`` | ``real`` | ``synthetic`` (default ``NHMG_DATA`` or ``auto``);
    ``force`` re-executes every chapter. ``root`` (default: this repository) holds the book
    sources; ``path_output`` (default ``root``) receives ``_build``. ``context`` skips data
    resolution (tests); ``env`` adds environment variables for the chapter kernels.
    """
    t0 = time.perf_counter()
    root = Path(root).resolve() if root is not None else book_root()
    if not (root / "_config.yml").is_file() or not (root / "_toc.yml").is_file():
        raise BookBuildError(f"{root} has no _config.yml/_toc.yml: not a book source directory.")
    out = Path(path_output).resolve() if path_output is not None else root
    build_dir = out / "_build"
    build_dir.mkdir(parents=True, exist_ok=True)

    if context is None:
        context = resolve_data(data)
    log = (lambda m: None) if quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    log(f"nhmg build: {context.describe()}")
    from nhmg_lib.data.releases import require_intact

    log(f"nhmg build: verified {require_intact(context.data_dir).summary()}")

    _sync_plotly_js(root)
    key = cache_key(context)
    key_path = build_dir / KEY_FILE
    old_key = key_path.read_text().strip() if key_path.is_file() else None
    rebuild_all = force or old_key != key
    if rebuild_all:
        why = "forced" if force else ("first build" if old_key is None else
                                       "library or data changed")
        log(f"nhmg build: clearing the execution cache ({why}); every chapter runs again.")
        shutil.rmtree(build_dir / ".jupyter_cache", ignore_errors=True)
        key_path.unlink(missing_ok=True)
    config_path = _write_config(root, build_dir, context, pdf=pdf)

    cmd = _jupyter_book() + ["build", str(root), "--path-output", str(out), "--config",
                             str(config_path), "-W", "--keep-going"]
    if pdf:
        cmd += ["--builder", "pdflatex"]
    if rebuild_all:
        cmd.append("--all")
    if quiet:
        cmd.append("-q")
    run_env = dict(os.environ)
    run_env.update(context.to_env())
    run_env.update({
        "NHMG_BOOK_BUILD": "1",
        "NHMG_BOOK_FORMAT": "pdf" if pdf else "html",
        "NHMG_BUILD_TIMING": str(build_dir / TIMING_FILE),
        "MPLBACKEND": "Agg",
        # chapter kernels import the same nhmg_lib as this process
        "PYTHONPATH": os.pathsep.join(p for p in (str(book_root()), run_env.get("PYTHONPATH", "")) if p),
    })
    if env:
        run_env.update(env)
    log("nhmg build: " + " ".join(cmd))
    returncode, output = _run_streamed(cmd, root, run_env)
    if returncode != 0:  # the cause first: the streamed output above can be long
        raise BookBuildError(
            f"{first_cause(output)} (jupyter-book exited with status {returncode}; "
            "re-run with `nhmg build --force` after fixing.)")
    key_path.write_text(key + "\n")
    if rebuild_all:  # only a build that ran every chapter says how long the book takes
        _write_timing(build_dir / TIMING_FILE, time.perf_counter() - t0, pdf, context)

    if pdf:
        pdfs = sorted((build_dir / "latex").glob("*.pdf"), key=lambda p: p.stat().st_mtime)
        if not pdfs:
            raise BookBuildError(f"the PDF build finished but no PDF is in {build_dir / 'latex'}.")
        result = pdfs[-1]
        if (build_dir / "html" / "index.html").is_file():
            log("nhmg build: linking the new PDF from the HTML book")
            build(data=data, root=root, path_output=path_output, context=context, env=env,
                  quiet=quiet)
    else:
        result = build_dir / "html" / "index.html"
    log(f"nhmg build: done in {time.perf_counter() - t0:.1f} s -> {result}")
    return result
