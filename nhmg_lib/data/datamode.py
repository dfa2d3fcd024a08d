"""Which data the book runs on: the real NHANES files, or synthetic NHANES-shaped data.

``NHMG_DATA=auto|real|synthetic`` (default ``auto``) chooses, as SPEC section 3 describes:

* ``real``: the NHANES files in the data directory (``NHMG_DATA_DIR`` or the per-user cache),
  downloading whatever is missing. Never falls back; a failure is a :class:`DataModeError`
  naming the missing files and how to get them.
* ``synthetic``: fake data written once by :func:`nhmg_lib.data.synthetic.write_synthetic` into
  ``<cache>/synthetic-seed<N>`` (``NHMG_CACHE_DIR`` or the per-user cache) and reused after.
  ``NHMG_SYNTH_SEED`` and ``NHMG_SYNTH_SCALE`` (fraction of the full sample) change it.
* ``auto``: ``real`` when every file is already present; otherwise one download attempt with a
  short connect timeout (``NHMG_CONNECT_TIMEOUT``, default 5 s), so an offline machine decides
  in seconds; if that fails, ``synthetic``, saying why and how to get the real files.

The result is a :class:`DataContext`. :func:`nhmg_lib.book.build.build` resolves it once and passes
it to the chapters through the environment (:meth:`DataContext.to_env`);
:func:`nhmg_lib.book.chapter.setup` reads it back with :meth:`DataContext.from_env`.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import os
import shutil
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlparse

from nhmg_lib.errors import NhmgError

MODES = ("auto", "real", "synthetic")
DEFAULT_SEED = 1
DEFAULT_CONNECT_TIMEOUT = 5.0

#: Environment variables a resolved context is passed on with (build -> chapter kernels).
ENV_DIR = "NHMG_DATA_DIR"
ENV_MODE = "NHMG_DATA_MODE"
ENV_REASON = "NHMG_DATA_REASON"
ENV_HASH = "NHMG_DATA_HASH"
ENV_SEED = "NHMG_DATA_SEED"


class DataModeError(NhmgError):
    """The requested data mode cannot be satisfied (e.g. ``real`` without the files)."""


@dataclass(frozen=True)
class DataContext:
    """The data a build or notebook runs on.

    ``mode`` is ``"real"`` or ``"synthetic"`` (never ``auto``: that is resolved);
    ``reason`` says in one sentence why; ``manifest_hash`` identifies the data's content (it
    enters the book's execution-cache key); ``synthetic_seed`` is set for synthetic data.
    """

    data_dir: Path
    mode: str
    reason: str
    manifest_hash: str
    synthetic_seed: int | None = None
    synthetic_scale: float | None = None

    @property
    def synthetic(self) -> bool:
        return self.mode == "synthetic"

    def to_env(self) -> dict[str, str]:
        env = {
            ENV_DIR: str(self.data_dir),
            ENV_MODE: self.mode,
            ENV_REASON: self.reason,
            ENV_HASH: self.manifest_hash,
        }
        if self.synthetic_seed is not None:
            env[ENV_SEED] = str(self.synthetic_seed)
        if self.synthetic_scale is not None:
            env["NHMG_SYNTH_SCALE"] = repr(self.synthetic_scale)
        return env

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "DataContext | None":
        """The context a build exported, or None when this process was not started by one."""
        env = os.environ if env is None else env
        mode = env.get(ENV_MODE)
        data_dir = env.get(ENV_DIR)
        if mode not in ("real", "synthetic") or not data_dir:
            return None
        seed = env.get(ENV_SEED)
        scale = env.get("NHMG_SYNTH_SCALE")
        return cls(
            data_dir=Path(data_dir),
            mode=mode,
            reason=env.get(ENV_REASON, f"{mode} data chosen by the build"),
            manifest_hash=env.get(ENV_HASH) or data_hash(Path(data_dir)),
            synthetic_seed=int(seed) if seed and mode == "synthetic" else None,
            synthetic_scale=float(scale) if scale and mode == "synthetic" else None,
        )

    def describe(self) -> str:
        """One line for logs: mode, directory, hash prefix."""
        extra = ""
        if self.synthetic:
            extra = f", seed {self.synthetic_seed}"
            if self.synthetic_scale not in (None, 1.0):
                extra += f", scale {self.synthetic_scale:g}"
        return f"{self.mode} data in {self.data_dir} ({self.manifest_hash[:12]}{extra})"


# --------------------------------------------------------------------------- helpers


def cache_root() -> Path:
    """Where generated data live: ``NHMG_CACHE_DIR`` or the per-user cache directory."""
    env = os.environ.get("NHMG_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("nhmg"))


def _real_data_dir(data_dir: str | os.PathLike | None) -> Path:
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env).expanduser()
    from nhmg_lib.data import sources

    return Path(sources.default_data_dir())


def synthetic_dir(seed: int = DEFAULT_SEED, scale: float = 1.0) -> Path:
    name = f"synthetic-seed{seed}"
    if scale != 1.0:
        name += f"-scale{scale:g}"
    return cache_root() / name


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise DataModeError(f"{name}={raw!r} is not a number.") from None


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise DataModeError(f"{name}={raw!r} is not an integer.") from None


def data_hash(data_dir: Path) -> str:
    """Content identity of a data directory: the download manifest's hash when there is one,
    else a hash of the XPT files' names, sizes and modification times."""
    try:
        from nhmg_lib.data import sources

        value = sources.manifest_hash(data_dir)
        if value:
            return str(value)
    except Exception:  # no manifest (synthetic data, files put there by hand): fall through
        pass
    h = hashlib.sha256()
    for p in sorted(Path(data_dir).glob("*")):
        if p.suffix.lower() == ".xpt" and p.is_file():
            st = p.stat()
            h.update(f"{p.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return "files:" + h.hexdigest()


def _cycles() -> list[str]:
    from nhmg_lib.data.catalog import CYCLES

    return list(CYCLES)


def _missing(data_dir: Path) -> list[str]:
    from nhmg_lib.data import sources

    if not data_dir.is_dir():
        from nhmg_lib.data.catalog import files_for

        return [f.filename for f in files_for(_cycles())]
    return [str(getattr(m, "filename", m)) for m in sources.missing_files(data_dir, _cycles())]


def _is_synthetic(data_dir: Path) -> bool:
    if not data_dir.is_dir():
        return False
    from nhmg_lib.data import synthetic

    return bool(synthetic.is_synthetic(data_dir))


def _base_url() -> str | None:
    env = os.environ.get("NHMG_BASE_URL")
    if env:
        return env
    try:
        from nhmg_lib.data import sources

        for name in ("DEFAULT_BASE_URL", "BASE_URL"):
            if getattr(sources, name, None):
                return str(getattr(sources, name))
    except ImportError:
        pass
    return None


def _uses_proxy() -> bool:
    return any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
                                              "ALL_PROXY", "all_proxy"))


def _reachable(base_url: str | None, timeout: float) -> str | None:
    """None when a TCP connection to the download host opens within ``timeout``; else why not.

    Skipped (None) behind a proxy, where only the HTTP client knows how to get out."""
    if not base_url or _uses_proxy():
        return None
    parsed = urlparse(base_url)
    host = parsed.hostname
    if not host:
        return None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"cannot connect to {host}:{port} ({exc.__class__.__name__}: {exc})"


def _call_download(data_dir: Path, timeout: float) -> None:
    from nhmg_lib.data import sources

    kwargs: dict = {"cycles": _cycles(), "data_dir": data_dir, "base_url": _base_url()}
    try:
        params = inspect.signature(sources.download).parameters
    except (TypeError, ValueError):
        params = {}
    if "timeout" in params:  # (connect, read) seconds: a short connect timeout decides offline fast
        kwargs["timeout"] = (timeout, 60.0)
    elif "connect_timeout" in params:
        kwargs["connect_timeout"] = timeout
    sources.download(**kwargs)


def how_to_get_real_data(data_dir: Path) -> str:
    return (
        f"To build on the real NHANES files, run `nhmg download --data-dir {data_dir}` on a "
        f"machine with internet access (or copy the public-use .xpt files into {data_dir}), "
        "then rebuild with `nhmg build --data real`."
    )


GENERATOR_STAMP = ".nhmg-generator"


def generator_hash() -> str:
    """Identity of the synthetic-data generator: its version and the source of the modules
    that shape the files, so cached synthetic data are regenerated when the generator changes."""
    from nhmg_lib.data import synthetic

    h = hashlib.sha256(str(getattr(synthetic, "GENERATOR_VERSION", "")).encode())
    pkg = Path(__file__).resolve().parent
    for name in ("synthetic.py", "synthetic_calibration.py", "catalog.py"):
        p = pkg / name
        if p.is_file():
            h.update(name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _synthetic_current(path: Path, stamp: str) -> bool:
    marker = path / GENERATOR_STAMP
    return (path.is_dir() and _is_synthetic(path) and not _missing(path)
            and marker.is_file() and marker.read_text().strip() == stamp)


def ensure_synthetic(seed: int = DEFAULT_SEED, scale: float = 1.0,
                     log: Callable[[str], None] | None = None) -> Path:
    """The synthetic data directory for ``seed``/``scale``, generated on first use and again
    only when the generator changes (:func:`generator_hash`).

    Generation goes to a temporary sibling directory renamed into place, so two builds at once
    never see half-written files."""
    target = synthetic_dir(seed, scale)
    stamp = generator_hash()
    if _synthetic_current(target, stamp):
        return target
    from nhmg_lib.data import synthetic

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    try:
        if log:
            log(f"Generating synthetic NHANES data (seed {seed}, scale {scale:g}) in {target} ...")
        synthetic.write_synthetic(tmp, seed=seed, scale=scale)
        (tmp / GENERATOR_STAMP).write_text(stamp + "\n")
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            tmp.rename(target)
        except OSError:
            if not _synthetic_current(target, stamp):  # lost a race: keep the winner
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _synthetic_context(reason: str, log: Callable[[str], None] | None) -> DataContext:
    seed = _env_int("NHMG_SYNTH_SEED", DEFAULT_SEED)
    scale = _env_float("NHMG_SYNTH_SCALE", 1.0)
    # The same bounds as `nhmg synth --seed/--scale`, checked before anything is generated.
    if seed < 0:
        raise DataModeError(f"NHMG_SYNTH_SEED={seed}: the seed must be 0 or a positive integer.")
    if not (math.isfinite(scale) and 0 < scale <= 1):
        raise DataModeError(f"NHMG_SYNTH_SCALE={os.environ.get('NHMG_SYNTH_SCALE')}: must be a "
                            "fraction of the full sample size, greater than 0 and at most 1 "
                            "(e.g. 0.25).")
    path = ensure_synthetic(seed, scale, log=log)
    return DataContext(path, "synthetic", reason, data_hash(path), seed, scale)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def resolve_data(mode: str | None = None, *, data_dir: str | os.PathLike | None = None,
                 connect_timeout: float | None = None,
                 log: Callable[[str], None] | None = _stderr) -> DataContext:
    """Resolve the data mode (argument, else ``NHMG_DATA``, else ``auto``) to a DataContext.

    ``data_dir`` is where the real files are (default ``NHMG_DATA_DIR`` or the per-user cache).
    Messages about the choice go to ``log`` (stderr by default; ``None`` silences them).
    """
    mode = (mode or os.environ.get("NHMG_DATA") or "auto").strip().lower()
    if mode not in MODES:
        raise DataModeError(f"data mode {mode!r} is not one of {', '.join(MODES)} (NHMG_DATA or --data).")
    say = log or (lambda _m: None)

    if mode == "synthetic":
        return _synthetic_context("synthetic data were requested (data mode synthetic)", log)

    real_dir = _real_data_dir(data_dir)
    if _is_synthetic(real_dir):
        if mode == "real":
            raise DataModeError(
                f"{real_dir} holds synthetic data, not the NHANES files. Point NHMG_DATA_DIR at "
                "a directory with the real files (or an empty one to download into)."
            )
        say(f"Note: {real_dir} holds synthetic data; looking for the real files in the default cache.")
        from nhmg_lib.data import sources

        real_dir = Path(sources.default_data_dir())

    missing = _missing(real_dir)
    if not missing:
        return DataContext(real_dir, "real", f"all NHANES files present in {real_dir}", data_hash(real_dir))

    timeout = connect_timeout if connect_timeout is not None else _env_float(
        "NHMG_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT)
    say(f"{len(missing)} NHANES file(s) missing from {real_dir}; trying to download them ...")
    why = _reachable(_base_url(), timeout)
    if why is None:
        try:
            real_dir.mkdir(parents=True, exist_ok=True)
            _call_download(real_dir, timeout)
        except Exception as exc:  # any failure here means "no real data": say which and move on
            why = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        else:
            still = _missing(real_dir)
            if not still:
                return DataContext(real_dir, "real", f"NHANES files downloaded into {real_dir}",
                                   data_hash(real_dir))
            why = f"after the download {len(still)} file(s) are still missing: {', '.join(still[:6])}"

    if mode == "real":
        raise DataModeError(
            f"NHMG_DATA=real but the NHANES files are not available: {why}. Missing from "
            f"{real_dir}: {', '.join(missing[:8])}{', ...' if len(missing) > 8 else ''} "
            f"({len(missing)} file(s)). "
            + how_to_get_real_data(real_dir)
        )
    reason = f"the real NHANES files are not available ({why})"
    say(f"Building on SYNTHETIC data: {reason}. " + how_to_get_real_data(real_dir))
    return _synthetic_context(reason, log)
