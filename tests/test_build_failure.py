"""A failed book build ends with its first real cause in one paragraph."""

import pytest

from nhmg_lib.book.build import first_cause


def test_failing_chapter_and_exception_line_from_the_notebook_log(tmp_path):
    log = tmp_path / "_build" / "html" / "reports" / "book" / "03_cohort.err.log"
    log.parent.mkdir(parents=True)
    log.write_text("Traceback (most recent call last):\n  File \"x\", line 3\n"
                   "\x1b[0;31mCohortError\x1b[0m: Cannot form magnesium quartiles: the final cohort of 0\n")
    output = ["Running Jupyter-Book", "line"] * 60 + [
        "/book/03_cohort.md: WARNING: Executing notebook failed: CellExecutionError [mystnb.exec]",
        f"/book/03_cohort.md: WARNING: Notebook exception traceback saved in: {log} [mystnb.exec]",
        "/book/07_x.md:12: WARNING: undefined label: 'fig-9'",
    ]
    assert first_cause(output) == (
        "First cause: the chapter book/03_cohort.md failed with CohortError: Cannot form magnesium "
        f"quartiles: the final cohort of 0 (its full traceback: {log}).")


def test_first_sphinx_warning_when_no_notebook_failed():
    output = ["Running Sphinx v7", "/book/07_x.md:12: WARNING: undefined label: 'fig-9'",
              "/book/08_y.md:3: WARNING: other"]
    assert first_cause(output) == "First cause: /book/07_x.md:12: WARNING: undefined label: 'fig-9'"
    assert first_cause([]) == "jupyter-book printed nothing."


KERNEL_NOTE = ("[IPKernelApp] WARNING | Kernel is running over TCP without encryption. All "
               "communication (including code and outputs) is sent in plain text.")


def test_the_failing_cell_is_named_from_the_notebook_log(tmp_path):
    # the log nbclient writes (colours included) for a cell raising inside a function
    log = tmp_path / "_build" / "html" / "reports" / "book" / "mediation.err.log"
    log.parent.mkdir(parents=True)
    log.write_text(
        "Traceback (most recent call last):\n"
        "nbclient.exceptions.CellExecutionError: An error occurred while executing the following cell:\n"
        "------------------\n\nblock = mediation_block(adults)\nblock\n------------------\n\n\n"
        "\x1b[31mValueError\x1b[39m                                Traceback (most recent call last)\n"
        "\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[4]\x1b[39m\x1b[32m, line 1\x1b[39m\n"
        "\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[2]\x1b[39m\x1b[32m, line 2\x1b[39m, in f()\n"
        "\x1b[31mValueError\x1b[39m: the cohort has 0 rows\n")
    output = [KERNEL_NOTE] * 3 + [
        f"/book/mediation.md: WARNING: Notebook exception traceback saved in: {log} [mystnb.exec]"]
    assert first_cause(output) == (
        "First cause: the chapter book/mediation.md failed in code cell 4, line 1 "
        "(`block = mediation_block(adults)`) with ValueError: the cohort has 0 rows "
        f"(its full traceback: {log}).")


def test_a_kernel_warning_is_never_the_first_cause_of_a_dead_kernel():
    # 175 lines: harmless kernel notes early, the real cause (a kernel that died) at line 60
    output = ["Running Sphinx v7.4.7", "reading sources... [ 20%] book/mediation",
              "/src/book/mediation.md: Executing notebook using local CWD [mystnb]", KERNEL_NOTE]
    output += [f"line {i}" for i in range(len(output), 59)]
    output += ["Exception occurred:",
               '  File "nbclient/client.py", line 1009, in async_execute_cell',
               '    raise DeadKernelError("Kernel died") from None',
               "nbclient.exceptions.DeadKernelError: Kernel died",
               "The full traceback has been saved in /tmp/sphinx-err-x.log"]
    output += [KERNEL_NOTE] + [f"tail {i}" for i in range(175 - len(output) - 1)]
    assert len(output) == 175 and output[59] == "Exception occurred:"
    assert first_cause(output) == (
        "First cause: the chapter /src/book/mediation.md stopped the build with "
        "nbclient.exceptions.DeadKernelError: Kernel died (the kernel died: out of memory, or "
        "killed).")


def test_harmless_warnings_are_skipped_and_errors_come_before_warnings():
    output = [KERNEL_NOTE, "WARNING: unknown config value 'nhmg_book_pdf' in override, ignoring",
              "/book/07_x.md:12: WARNING: undefined label: 'fig-9'",
              "/book/08_y.md:3: ERROR: Unknown directive type: 'figurex'"]
    assert first_cause(output) == "First cause: /book/08_y.md:3: ERROR: Unknown directive type: 'figurex'"
    assert first_cause(output[:3]) == "First cause: /book/07_x.md:12: WARNING: undefined label: 'fig-9'"


_INTERRUPTED_BUILD = """
import os, sys
from pathlib import Path
from nhmg_lib.book import build as book_build
from nhmg_lib.cli import main

# jupyter-book stand-in: starts a kernel-like grandchild in a session of its own (as
# jupyter_client does), reports both pids, then waits
CHILD = '''
import subprocess, sys, time
kernel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
print("pids", kernel.pid, flush=True)
time.sleep(60)
'''
book_build.build = lambda **kw: book_build._run_streamed([sys.executable, "-c", CHILD], Path.cwd(), os.environ)
sys.exit(main(["build"]))
"""


@pytest.mark.parametrize("how, code, word", [("SIGINT", 130, "interrupted"),
                                             ("SIGTERM", 143, "terminated")])
def test_ctrl_c_during_a_build_exits_with_one_line_and_stops_every_process(tmp_path, how, code, word):
    import os
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-c", _INTERRUPTED_BUILD], stderr=subprocess.PIPE,
                            text=True, start_new_session=True, cwd=tmp_path)
    line = proc.stderr.readline()
    assert line.startswith("pids "), line
    kernel = int(line.split()[1])
    # Ctrl-C at a terminal signals the foreground process group; `kill` the process alone
    if how == "SIGINT":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    assert proc.returncode == code
    assert err.strip() == f"nhmg build: {word}", err
    until = time.monotonic() + 5
    while _running(kernel) and time.monotonic() < until:
        time.sleep(0.1)
    alive = _running(kernel)
    if alive:
        os.kill(kernel, signal.SIGKILL)
    assert not alive


def _running(pid: int) -> bool:
    from pathlib import Path

    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
