"""Where the NHANES files come from and where they live: URLs, the cache, and ``download``.

A data directory is flat (``DEMO_G.xpt``, ``DXX_H.xpt``, ...; letter case of names ignored).
``download`` makes it complete: files whose manifest entry still verifies are reused, files
placed by hand are validated and recorded, anything else is fetched in parallel, validated as
SAS transport and moved into place atomically. Failures end in one :class:`DownloadError`
that names the files, their URLs and how to get them by hand.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import platformdirs
from tqdm import tqdm

from nhmg_lib.data.catalog import CYCLES, FileSpec, files_for
from nhmg_lib.errors import DataDirError, DownloadError
from nhmg_lib.data.fetch import FetchContext, FetchFailed, fetch
from nhmg_lib.data.fetch import BACKOFF, CONNECT_TIMEOUT, READ_TIMEOUT, RETRIES
from nhmg_lib.data.manifest import (check_xpt, load_manifest, manifest_hash, new_entry,
                               save_manifest, verify_entry)
from nhmg_lib.data import filecache
from nhmg_lib.data.releases import duplicates, verify_file

LOCK_NAME = ".nhmg-download.lock"
SYNTHETIC_FILES = ("SYNTHETIC", ".nhmg-generator")  # markers of nhmg_lib.data.synthetic

__all__ = [
    "DEFAULT_BASE_URL", "DownloadError", "DownloadReport", "default_data_dir", "download",
    "file_url", "find_file", "manifest_hash", "manual_download_instructions", "missing_files",
    "resolve_base_url", "resolve_data_dir",
]

DEFAULT_BASE_URL = "https://wwwn.cdc.gov/Nchs/Data/Nhanes/Public"
ENV_BASE_URL = "NHMG_BASE_URL"
ENV_DATA_DIR = "NHMG_DATA_DIR"


def default_data_dir() -> Path:
    """``$NHMG_DATA_DIR`` if set, else ``<per-user cache dir>/nhmg/nhanes``."""
    env = os.environ.get(ENV_DATA_DIR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("nhmg")) / "nhanes"


def resolve_data_dir(data_dir: Path | str | None = None) -> Path:
    """The argument if given, else :func:`default_data_dir`."""
    return Path(data_dir).expanduser() if data_dir is not None else default_data_dir()


def resolve_base_url(base_url: str | None = None) -> str:
    """The argument, else ``$NHMG_BASE_URL``, else the CDC site; without a trailing slash."""
    url = (base_url or os.environ.get(ENV_BASE_URL, "").strip() or DEFAULT_BASE_URL).rstrip("/")
    if not url.lower().startswith(("http://", "https://")):
        raise DownloadError(
            f"The NHANES base URL {url!r} (from the base_url argument or {ENV_BASE_URL}) is "
            f"not an http(s) address. Set {ENV_BASE_URL} to a URL such as {DEFAULT_BASE_URL}, "
            "or unset it to use the CDC site.")
    return url


def file_url(spec: FileSpec, base_url: str | None = None) -> str:
    """``<base>/<start year>/DataFiles/<FILE>_<CYCLE>.xpt``, the CDC layout since late 2024."""
    return f"{resolve_base_url(base_url)}/{CYCLES[spec.cycle][0]}/DataFiles/{spec.filename}"


def find_file(data_dir: Path | str, spec: FileSpec) -> Path | None:
    """The file for ``spec`` in ``data_dir`` matched case-insensitively, or ``None``."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        return None
    files = [p for p in data_dir.iterdir() if p.suffix.lower() == ".xpt" and p.is_file()]
    twins = duplicates([p.name for p in files]).get(spec.name.upper())
    if twins:
        raise DataDirError(
            f"{data_dir} holds {' and '.join(twins)}, which both stand for {spec.filename}: "
            "which one is meant cannot be told, so neither is used. Keep the right one and "
            "delete (or rename) the other.")
    wanted = spec.filename.lower()
    matches = [p for p in files if p.name.lower() == wanted]
    return matches[0] if matches else None


def missing_files(data_dir: Path | str, cycles: Sequence[str] = tuple(CYCLES)) -> list[FileSpec]:
    """Catalogue files for ``cycles`` that are not in ``data_dir`` (presence only, no checks)."""
    return [spec for spec in files_for(cycles) if find_file(data_dir, spec) is None]


def manual_download_instructions(specs: Iterable[FileSpec], data_dir: Path | str,
                                 base_url: str | None = None) -> str:
    """How to get ``specs`` by hand: every file with its URL, and where to save it."""
    specs = list(specs)
    width = max((len(s.filename) for s in specs), default=0)
    lines = "\n".join(f"  {s.filename:<{width}}  {file_url(s, base_url)}" for s in specs)
    return (
        f"To get the {len(specs)} missing file(s) by hand, download each URL below in a browser "
        f"and save it under the name shown (letter case does not matter) in {Path(data_dir)}:\n"
        f"{lines}\n"
        "Then run `nhmg download` again: files placed by hand are validated and recorded in "
        f"the manifest. If the CDC has moved the files, set {ENV_BASE_URL} to the new location "
        "(files are looked up as <base>/<start year>/DataFiles/<FILE>_<CYCLE>.xpt), or use "
        f"another data directory with --data-dir or {ENV_DATA_DIR}.")


@dataclass
class DownloadReport:
    """What a :func:`download` call did; ``str()`` gives a one-line summary."""

    data_dir: Path
    fetched: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)   # placed by hand, validated, recorded
    replaced: list[str] = field(default_factory=list)  # cached copy was corrupt, fetched again
    bytes_downloaded: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        parts = [f"fetched {len(self.fetched)} file(s) ({self.bytes_downloaded / 1e6:.1f} MB)",
                 f"reused {len(self.reused) + len(self.adopted)} verified file(s)"]
        if self.adopted:
            parts[-1] += f" ({len(self.adopted)} placed by hand)"
        if self.replaced:
            parts.append(f"replaced {len(self.replaced)} corrupt file(s)")
        return f"NHANES data in {self.data_dir}: " + ", ".join(parts) + \
            f" in {self.seconds:.1f} s."


def _ensure_writable(data_dir: Path) -> None:
    """Fail before any transfer if ``data_dir`` cannot be created or written."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as exc:
        why = exc.strerror or str(exc)
        if isinstance(exc, FileExistsError):
            why = "it exists but is not a directory"
        raise DataDirError(
            f"The NHANES data directory {data_dir} cannot be used: {why}. "
            f"Choose a writable directory with --data-dir or the {ENV_DATA_DIR} environment "
            f"variable (the default is {Path(platformdirs.user_cache_dir('nhmg')) / 'nhanes'})."
        ) from None


def _check_cached(data_dir: Path, spec: FileSpec, entry: dict | None,
                  made: dict[str, str] | None = None) -> tuple[str, Path | None, str]:
    """Classify one cached file: ``reuse``, ``adopt``, ``fetch`` (absent) or ``corrupt``.

    A recorded file must still match its entry, and every file -- recorded or placed by
    hand -- must pass :func:`nhmg_lib.data.releases.verify_file` (size and rows of the known
    CDC releases, the right data set, the relations to its cycle's DEMO). A file the
    synthetic-data generator wrote (``made``: its record, name -> SHA-256) is replaced.
    """
    path = find_file(data_dir, spec)
    if path is None:
        return "fetch", None, ""
    if made and made.get(path.name.upper()) == filecache.sha256(path):
        return "replace", path, "synthetic"
    if entry and entry.get("file") == path.name:
        problem = verify_entry(path, entry)
        state = "reuse"
    else:
        problem = check_xpt(path)
        state = "adopt"
    if problem is None:
        demo = find_file(data_dir, FileSpec("DEMO", spec.cycle)) if spec.component != "DEMO" else None
        check = verify_file(path, demo=demo)
        if check.damaged:
            problem = check.message.split(". Delete ")[0]
    return (state, path, "") if problem is None else ("corrupt", path, problem)


@contextlib.contextmanager
def _download_lock(data_dir: Path, wait: float | None,
                   log: Callable[[str], None] | None) -> Iterator[None]:
    """One download per directory at a time: an exclusive ``flock`` on a lock file.

    A second run waits (at most ``wait`` seconds, ``None``: as long as it takes), then finds
    the files the first one verified.
    """
    try:
        import fcntl
    except ImportError:  # not on POSIX: no locking
        yield
        return
    try:
        fh = open(data_dir / LOCK_NAME, "a+")
    except OSError:
        yield  # a read-only directory: nothing will be written, nothing to lock
        return
    try:
        start, told = time.monotonic(), False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told and log:
                    log(f"Another `nhmg download` is writing into {data_dir}; waiting for it.")
                    told = True
                if wait is not None and time.monotonic() - start > wait:
                    raise DownloadError(
                        f"Another `nhmg download` is still writing into {data_dir} after "
                        f"{wait:g} s. Let it finish (or stop it), then run the command again.")
                time.sleep(0.2)
        yield
    finally:
        fh.close()  # releases the lock


def download(cycles: Sequence[str] | None = None, data_dir: Path | str | None = None,
             base_url: str | None = None, *, specs: Sequence[FileSpec] | None = None,
             workers: int = 4, timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
             retries: int = RETRIES, backoff: float = BACKOFF, progress: bool = True,
             deadline: float | None = None,
             log: Callable[[str], None] | None = None) -> DownloadReport:
    """Make ``data_dir`` hold every catalogue file of ``cycles`` (default all; or ``specs``).

    ``timeout`` is (connect, read) seconds, by default 5 and 20
    (:data:`nhmg_lib.data.fetch.READ_TIMEOUT`): a server silent for the read timeout has
    stalled. A transient failure (a stall included) is retried ``retries`` times (default 3)
    after waits of ``backoff``, 2x``backoff``, 4x..., so a file on a stalled server fails
    within :func:`nhmg_lib.data.fetch.stall_bound` (87 s by default); a refused connection only once, then
    the whole call stops. ``deadline`` (seconds) bounds the whole call: transfers still
    running then stop and keep their partial files for the next run. ``log`` gets a plain
    line per finished file (for logs, where a progress bar is noise). Only one call per
    directory runs at a time (a lock file); a second one waits for the first.

    A directory written by ``nhmg synth`` (its ``SYNTHETIC`` marker) is turned into a real
    one: every file is fetched, and the marker is removed once the set is complete.
    Raises :class:`DataDirError` for an unusable directory and
    :class:`DownloadError` (with the partial report attached) if any file is still missing.
    """
    start = time.monotonic()
    data_dir = resolve_data_dir(data_dir)
    base = resolve_base_url(base_url)
    specs = list(specs) if specs is not None else files_for(cycles or tuple(CYCLES))
    try:
        data_dir.mkdir(parents=True, exist_ok=True)  # so even a first download takes the lock
    except OSError:
        pass  # reported with its reason by _ensure_writable when something must be written
    if data_dir.is_dir():
        with _download_lock(data_dir, deadline, log):
            return _download(specs, data_dir, base, start, workers, timeout, retries, backoff,
                             progress, deadline, log)
    return _download(specs, data_dir, base, start, workers, timeout, retries, backoff, progress,
                     deadline, log)


def _download(specs: list[FileSpec], data_dir: Path, base: str, start: float, workers: int,
              timeout: tuple[float, float], retries: int, backoff: float, progress: bool,
              deadline: float | None, log: Callable[[str], None] | None) -> DownloadReport:
    report = DownloadReport(data_dir=data_dir)
    entries, manifest_corrupt = load_manifest(data_dir)
    synthetic = (data_dir / SYNTHETIC_FILES[0]).is_file()
    from nhmg_lib.data.generated import generated_files

    made = ({n.upper(): sha for n, sha in generated_files(data_dir).items()}
            if synthetic else {})
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        checks = list(pool.map(lambda s: _check_cached(data_dir, s, entries.get(s.name), made),
                               specs))
        todo = [s for s, (state, _, _) in zip(specs, checks)
                if state in ("fetch", "corrupt", "replace")]
        adopt = [s for s, (state, _, _) in zip(specs, checks) if state == "adopt"]
        if todo:
            _ensure_writable(data_dir)
        for spec, (state, path, problem) in zip(specs, checks):
            if state == "reuse":
                report.reused.append(spec.name)
            elif state == "adopt":
                entries[spec.name] = new_entry(path, None)
                report.adopted.append(spec.name)
            elif state == "corrupt":
                # Move the bad copy aside so readers can never pick it up under its real name.
                os.replace(path, path.with_name(path.name + ".corrupt"))
                entries.pop(spec.name, None)
                report.replaced.append(spec.name)
        if adopt or manifest_corrupt or report.replaced:
            try:
                save_manifest(data_dir, entries)
            except OSError:
                if todo:
                    raise
                # A complete read-only directory (a shared copy) is still usable: its files
                # were just validated, and will be again next time as nothing was recorded.
        ctx = FetchContext(timeout=timeout, retries=retries, backoff=backoff,
                           deadline=None if deadline is None else start + deadline,
                           deadline_seconds=deadline)
        # At the deadline, wake the transfers blocked on a socket: each then stops at once.
        timer = None if deadline is None else threading.Timer(
            max(0.0, ctx.deadline - time.monotonic()), ctx.wake)
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            failures = _fetch_all(pool, todo, data_dir, base, entries, report, ctx, progress, log)
        finally:
            if timer is not None:
                timer.cancel()
    report.seconds = time.monotonic() - start
    if synthetic and not failures:
        # The marker goes only when no synthetic file is left (e.g. of a cycle not asked for).
        fetched = {f"{name}.xpt".upper() for name in report.fetched}
        left = sorted(p.name for p in data_dir.iterdir()
                      if p.name.upper() in made and p.name.upper() not in fetched)
        if not left:
            for name in SYNTHETIC_FILES:
                (data_dir / name).unlink(missing_ok=True)
            if log:
                log(f"{data_dir} held synthetic data; it now holds the real NHANES files.")
        elif log:
            log(f"{data_dir} still holds {len(left)} synthetic file(s) (e.g. {left[0]}); it "
                "stays marked SYNTHETIC until every file is real (download all cycles).")
    if failures:
        raise DownloadError(_failure_message(failures, specs, data_dir, base,
                                             {s.name: c[2] for s, c in zip(specs, checks)}),
                            report=report, failures={s.name: r for s, r in failures.items()})
    return report


def _fetch_all(pool: ThreadPoolExecutor, todo: list[FileSpec], data_dir: Path, base: str,
               entries: dict, report: DownloadReport, ctx: FetchContext,
               progress: bool, log: Callable[[str], None] | None = None
               ) -> dict[FileSpec, FetchFailed]:
    """Fetch ``todo`` in parallel, recording each success at once; returns the failures."""
    lock = threading.Lock()
    bar = tqdm(total=0, unit="B", unit_scale=True, unit_divisor=1024, desc="NHANES files",
               disable=not progress or not todo)

    def on_total(n: int) -> None:
        with lock:
            bar.total += n
            bar.refresh()

    def on_bytes(n: int) -> None:
        with lock:
            bar.update(n)

    ctx.on_total, ctx.on_bytes = on_total, on_bytes

    def one(spec: FileSpec) -> FetchFailed | None:
        url, final = file_url(spec, base), data_dir / spec.filename
        part = data_dir / f"{spec.filename}.part"
        try:
            received = fetch(url, part, ctx)
            old = find_file(data_dir, spec)
            if old is not None and old.name != final.name:
                old.unlink()  # a synthetic copy under another letter case
            os.replace(part, final)  # atomic: the final name only ever holds a validated file
            entry = new_entry(final, url)
            check = verify_file(final)
            entry.update(release=check.status, rows=check.rows)
            with lock:
                entries[spec.name] = entry
                save_manifest(data_dir, entries)  # after every file: an interrupted run keeps it
                report.fetched.append(spec.name)
                report.bytes_downloaded += received
                if log:
                    log(f"fetched {spec.filename} ({entry['size'] / 1e6:.1f} MB, "
                        f"{check.status}) [{len(report.fetched)}/{len(todo)}]")
        except FetchFailed as failed:
            return failed
        except OSError as exc:  # disk full, file locked by another program, ...
            return FetchFailed("permanent", f"cannot save it in {data_dir}: {exc.strerror or exc}")
        return None

    try:
        results = list(pool.map(one, todo))
    except BaseException:
        ctx.interrupt()  # Ctrl-C: every running transfer stops now, blocked ones included
        raise
    finally:
        bar.close()
    return {spec: failed for spec, failed in zip(todo, results) if failed is not None}


def _failure_message(failures: dict[FileSpec, FetchFailed], specs: list[FileSpec],
                     data_dir: Path, base: str, cached_problems: dict[str, str]) -> str:
    """One message for all failures: offline gets the manual route, others a reason per file."""
    failed = list(failures)
    howto = manual_download_instructions(failed, data_dir, base)
    unreachable = [f for f in failures.values() if f.kind == "unreachable"
                   and not f.reason.startswith("not attempted")]
    if unreachable:
        return (f"Cannot reach the NHANES server at {base}: {unreachable[0].reason}. This "
                f"machine seems to be offline (or the site is down), so {len(failed)} of "
                f"{len(specs)} files are missing. {howto}")
    lines = []
    for spec, fail in failures.items():
        note = cached_problems.get(spec.name)
        was = f" (the cached copy was set aside as {spec.filename}.corrupt: {note})" if note else ""
        lines.append(f"  {spec.filename} from {file_url(spec, base)}: {fail.reason}{was}")
    return (f"Could not download {len(failed)} of {len(specs)} NHANES files into {data_dir}; "
            "nothing invalid was saved under a final file name:\n" + "\n".join(lines) +
            f"\n{howto}")
