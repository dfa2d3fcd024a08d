"""Command-line interface: ``nhmg download | synth | cohort | results | multiverse | build``.

Each subcommand is a thin wrapper over one library function; errors the library raises on
purpose (:class:`nhmg_lib.errors.NhmgError`) print as one paragraph and exit with status 2.
"""

from __future__ import annotations

import os

# Multi-threaded OpenBLAS slows the many small solves here several-fold on a busy 2-core
# machine; one thread is faster. Set before numpy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json
import sys
import time
from pathlib import Path

from nhmg_lib import __version__
from nhmg_lib.data.catalog import CYCLES
from nhmg_lib.cohort.definitions import OPTIONS, Definitions
from nhmg_lib.errors import NhmgError


def _definitions(pairs: list[str]) -> Definitions:
    """``["np_index=score", ...]`` -> Definitions; unknown keys or values are errors."""
    changes: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in OPTIONS:
            raise NhmgError(
                f"--set {pair!r}: expected KEY=VALUE with KEY one of {sorted(OPTIONS)}."
            )
        changes[key] = value
    try:
        return Definitions(**changes)
    except ValueError as exc:
        raise NhmgError(str(exc)) from None


def _cmd_download(args: argparse.Namespace) -> None:
    from nhmg_lib.data.sources import download

    _positive("--workers", args.workers)
    _positive("--deadline", args.deadline)
    tty = sys.stderr.isatty()
    _positive("--read-timeout", args.read_timeout)
    timeout = {} if args.read_timeout is None else {"timeout": (5.0, args.read_timeout)}
    report = download(cycles=args.cycles, data_dir=args.data_dir, base_url=args.base_url,
                      workers=args.workers, progress=tty, deadline=args.deadline,
                      log=None if tty else _say, **timeout)
    print(report)


def _cmd_synth(args: argparse.Namespace) -> None:
    from nhmg_lib.data.synthetic import write_synthetic

    _check_synth_args(args)
    start = time.perf_counter()
    paths = write_synthetic(args.out, seed=args.seed, scale=args.scale)
    print(f"Wrote {len(paths)} synthetic NHANES files to {args.out} "
          f"(seed {args.seed}, scale {args.scale}) in {time.perf_counter() - start:.1f} s.")


def _cmd_cohort(args: argparse.Namespace) -> None:
    from nhmg_lib.cohort.flow import cohort_from_dir

    defs = _definitions(args.set)
    _check_out(args.out, "--out")
    if args.out.name.lower() == "flow.json":
        raise NhmgError(f"--out {args.out}: the cohort CSV cannot be named flow.json, the "
                        "exclusion flow is written beside it under that name.")
    _check_out(args.out.with_name("flow.json"), "flow.json beside --out")
    _preflight(args.data_dir)
    cohort = cohort_from_dir(args.data_dir, defs)
    _require_cohort(cohort)
    written = cohort.to_csv(args.out, all_adults=args.all)
    print(cohort.flow_text())
    _print_plausibility(args.out.with_name("flow.json"))
    print("Wrote " + " and ".join(str(p) for p in written))


def _cmd_results(args: argparse.Namespace) -> None:
    from nhmg_lib.report.provenance import data_record
    from nhmg_lib.report.results import collect_with_reasons

    defs = _definitions(args.set)
    if args.boot < MIN_BOOT:
        raise NhmgError(f"--boot {args.boot}: at least {MIN_BOOT} bootstrap resamples are needed "
                        "for percentile confidence intervals (the paper's analysis uses 1000).")
    _non_negative("--seed", args.seed)
    _check_out(args.out, "--out")
    verified = _preflight(args.data_dir)
    start = time.perf_counter()
    records, reasons = collect_with_reasons(args.data_dir, defs, boot=args.boot, seed=args.seed)
    records.append(data_record(verified.mode, args.data_dir))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(records, indent=1, allow_nan=False) + "\n")
    print(f"Wrote {len(records)} records to {out} in {time.perf_counter() - start:.1f} s "
          f"({verified.mode} data).")
    _report_missing_estimates(records, reasons)


def _cmd_multiverse(args: argparse.Namespace) -> None:
    from nhmg_lib.analyses import multiverse
    from nhmg_lib.analyses.multiverse.workers import check_scheduler
    from nhmg_lib.data.readers import load_raw
    from nhmg_lib.report import specification_curve

    start = time.perf_counter()
    # every argument is checked before the data are read or anything is written
    settings = multiverse.parse_settings(args.set)
    multiverse.grid(settings)
    _non_negative("--null", args.null)
    _non_negative("--seed", args.seed)
    _positive("--mediation-boot", args.mediation_boot)
    _positive("--workers", args.workers)
    if Path(args.out).suffix not in (".parquet", ".csv"):
        raise NhmgError(f"--out {args.out}: use a .parquet or .csv file name")
    _check_out(Path(args.out), "--out")
    if args.records:
        _check_out(Path(args.records), "--records")
    check_scheduler(args.scheduler)
    _preflight(args.data_dir)
    result = multiverse.run(load_raw(args.data_dir), settings, workers=args.workers,
                            scheduler=args.scheduler, cache=not args.no_cache,
                            mediation_boot=args.mediation_boot, progress=True)
    written = [result.to_file(args.out)]
    joint = None
    if args.null > 0:
        joint = multiverse.joint_test(result, specification_curve.paper_directions(), args.null,
                                      args.seed, workers=args.workers, scheduler=args.scheduler,
                                      cache=not args.no_cache, progress=True)
    if args.records:
        recs = specification_curve.records(result, joint)
        Path(args.records).parent.mkdir(parents=True, exist_ok=True)
        Path(args.records).write_text(json.dumps(recs, indent=1, allow_nan=False) + "\n")
        written.append(Path(args.records))
    print(specification_curve.summary_table(result, joint).to_string())
    print(f"{len(result.specs):,} specifications; {len(result.table):,} distinct (specification, "
          f"estimate) rows for {result.table['estimate'].nunique()} estimates"
          f"{' (from the cache)' if result.from_cache else ''}; wrote "
          + " and ".join(map(str, written)) + f" in {time.perf_counter() - start:.1f} s.")


def _cmd_build(args: argparse.Namespace) -> None:
    from nhmg_lib.book.build import build

    print(build(pdf=args.pdf, data=args.data, force=args.force))


#: Fewest bootstrap resamples ``nhmg results`` accepts: with fewer, the 2.5th and 97.5th
#: percentiles are the extreme draws or worse, and the intervals mean nothing.
MIN_BOOT = 20


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _positive(flag: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise NhmgError(f"{flag} {value}: must be a positive number.")


def _non_negative(flag: str, value: int) -> None:
    if value < 0:
        raise NhmgError(f"{flag} {value}: must be 0 or a positive integer.")


def _check_synth_args(args: argparse.Namespace) -> None:
    """``synth``: seed >= 0, scale in (0, 1], and never over real NHANES files by surprise."""
    import math

    from nhmg_lib.data.synthetic import MARKER

    _non_negative("--seed", args.seed)
    if not (math.isfinite(args.scale) and 0 < args.scale <= 1):
        raise NhmgError(f"--scale {args.scale}: must be a fraction of the full sample size, "
                        "greater than 0 and at most 1 (e.g. 0.25).")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise NhmgError(f"--out {out}: exists and is not a directory.")
    if out.is_dir():
        others = [p.name for p in out.iterdir() if not p.name.startswith(".")]
        if others and not (out / MARKER).is_file() and not args.force:
            raise NhmgError(
                f"--out {out} is not empty and holds no synthetic data ({len(others)} item(s), "
                f"e.g. {', '.join(sorted(others)[:3])}): writing synthetic files there could "
                "overwrite the real NHANES files. Choose an empty directory, or add --force.")
    _check_out(out / MARKER, "--out")


def _check_out(path: Path, flag: str) -> None:
    """Fail before any computation if ``path`` cannot be written as a file."""
    import tempfile

    path = Path(path)
    if path.is_dir():
        raise NhmgError(f"{flag} {path}: is a directory; give a file name.")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise NhmgError(f"{flag} {path}: {parent} is a file, not a directory.")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise NhmgError(f"{flag} {path}: cannot write in {parent} ({exc.strerror or exc}). "
                        "Choose a writable location.") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise NhmgError(f"{flag} {path}: the file exists and is not writable.")


def _preflight(data_dir: Path):
    """Verify every file of the data directory before using it (damage is an error)."""
    from nhmg_lib.data.releases import require_intact

    report = require_intact(data_dir)
    _say(f"Verified {report.summary()}")
    for check in report.files:
        if check.status == "other release" or "warning" in check.message:
            _say(f"  note: {check.file}: {check.message}")
    return report


def _require_cohort(cohort) -> None:
    if cohort.final_n == 0:
        steps = "; ".join(f"{s.label}: {s.n_remaining:,} left" for s in cohort.flow)
        raise NhmgError(f"The final cohort is empty: nobody is left after the exclusions "
                        f"({steps}). Check the data directory (`nhmg verify`) and --set options.")


def _print_plausibility(flow_path: Path) -> None:
    try:
        flow = json.loads(Path(flow_path).read_text())
    except (OSError, ValueError):
        return
    issues = flow.get("plausibility") or []
    if issues:
        print(f"Plausibility: {len(issues)} finding(s) (values set to missing or columns empty):")
        for item in issues:
            print(f"  - {item['message']}")


def _report_missing_estimates(records: list[dict], reasons: list[tuple[str, str]] = ()) -> None:
    """Print every record without an estimate and every not-estimable reason (which ids, why);
    a whole exhibit without any estimate is an error."""
    from nhmg_lib.report.results import reason_covers

    missing = [r["id"] for r in records if r.get("estimate") is None]
    absent = [p for p, _ in reasons if not any(reason_covers(p, r["id"]) for r in records)]
    if not missing and not reasons:
        return
    if missing:
        _say(f"{len(missing)} record(s) have no estimate (not estimable), kept as nulls.")
    owner: dict[str, int] = {}  # each null record is explained by its longest matching prefix
    for i in missing:
        hits = [k for k, (p, _) in enumerate(reasons) if reason_covers(p, i)]
        if hits:
            owner[i] = max(hits, key=lambda k: len(reasons[k][0].split("/")))
    for k, (prefix, why) in enumerate(reasons):
        n = sum(1 for v in owner.values() if v == k)
        count = f"{n} null record(s)" if n else "no records"
        _say(f"  not estimable: {prefix} ({count}): {why}")
    rest = [i for i in missing if i not in owner]
    if rest:
        _say(f"  no estimate, no reason recorded: {', '.join(rest)}")
    families: dict[str, list[bool]] = {}
    for r in records:
        families.setdefault(r["id"].split("/")[0], []).append(r.get("estimate") is None)
    dead = sorted({f for f, nulls in families.items() if all(nulls)} | set(absent))
    if dead:
        raise NhmgError(f"No estimate at all for {', '.join(dead)}: these exhibits failed "
                        "entirely (their records are nulls or absent in the output; reasons above).")


def _cmd_verify(args: argparse.Namespace) -> None:
    from nhmg_lib.data.releases import DamagedDataError, verify_dir
    from nhmg_lib.data.sources import resolve_data_dir

    report = verify_dir(resolve_data_dir(args.data_dir))
    print(json.dumps(report.as_dict(), indent=1) if args.json else report.text())
    if report.damaged:
        raise DamagedDataError(report.error_message())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nhmg", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"nhmg {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    set_help = f"change a definition, KEY=VALUE (keys: {', '.join(sorted(OPTIONS))}); repeatable"

    d = sub.add_parser("download", help="download the NHANES files into the data directory")
    d.add_argument("--cycles", nargs="+", default=list(CYCLES), choices=list(CYCLES))
    d.add_argument("--data-dir", type=Path, default=None,
                   help="default: $NHMG_DATA_DIR or the per-user cache directory")
    d.add_argument("--base-url", default=None, help="default: $NHMG_BASE_URL or the CDC site")
    d.add_argument("--workers", type=int, default=4, help="parallel connections (default 4)")
    d.add_argument("--deadline", type=float, default=3600.0,
                   help="stop every transfer after this many seconds (default 3600); "
                        "partial files are resumed by the next run")
    d.add_argument("--read-timeout", type=float, default=None, metavar="SECONDS",
                   help="seconds without data before a transfer counts as stalled and is "
                        "retried (default 20; a file fails after 4 stalls, about 1.5 min)")
    d.set_defaults(func=_cmd_download)

    v = sub.add_parser("verify", help="check every file of a data directory against the "
                                      "known CDC releases (non-zero exit on damage)")
    v.add_argument("--data-dir", type=Path, default=None,
                   help="default: $NHMG_DATA_DIR or the per-user cache directory")
    v.add_argument("--json", action="store_true", help="the report as JSON")
    v.set_defaults(func=_cmd_verify)

    s = sub.add_parser("synth", help="write synthetic NHANES-shaped XPT files")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--scale", type=float, default=1.0, help="fraction of the full sample size")
    s.add_argument("--force", action="store_true",
                   help="write into a non-empty directory that does not hold synthetic data")
    s.set_defaults(func=_cmd_synth)

    c = sub.add_parser("cohort", help="build the analytic cohort and its exclusion flow")
    c.add_argument("--data-dir", type=Path, required=True)
    c.add_argument("--out", type=Path, required=True, help="cohort CSV; flow.json is written beside it")
    c.add_argument("--all", action="store_true",
                   help="export every adult aged 20-59 with an in_cohort flag (for domain estimation)")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=set_help)
    c.set_defaults(func=_cmd_cohort)

    r = sub.add_parser("results", help="compute every estimate of the book into results.json")
    r.add_argument("--data-dir", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--boot", type=int, default=1000,
                   help="bootstrap resamples for mediation (default 1000, at least 20)")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=set_help)
    r.set_defaults(func=_cmd_results)

    m = sub.add_parser("multiverse", help="every combination of the open choices: the "
                       "specification curve and its joint test")
    m.add_argument("--data-dir", type=Path, required=True)
    m.add_argument("--out", type=Path, required=True, help="table of estimates, .parquet or .csv")
    m.add_argument("--set", action="append", default=[], metavar="DIMENSION=V1,V2",
                   help="restrict a dimension of the grid (or 'all'); repeatable")
    m.add_argument("--null", type=int, default=500,
                   help="null resamples of the joint test (0: no joint test)")
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--mediation-boot", type=int, default=200,
                   help="resamples of the proportions mediated (linearised bootstrap; default 200)")
    m.add_argument("--workers", type=int, default=None, help="local processes (default: every core)")
    m.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on this dask.distributed scheduler instead of local processes")
    m.add_argument("--records", type=Path, default=None, help="also write the summary as results.json records")
    m.add_argument("--no-cache", action="store_true", help="neither read nor write the disk cache")
    m.set_defaults(func=_cmd_multiverse)

    b = sub.add_parser("build", help="build the book (HTML, or PDF with --pdf)")
    b.add_argument("--pdf", action="store_true")
    b.add_argument("--data", choices=["auto", "real", "synthetic"], default=None,
                   help="data mode (default: $NHMG_DATA or auto)")
    b.add_argument("--force", action="store_true", help="re-execute every chapter")
    b.set_defaults(func=_cmd_build)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except NhmgError as exc:
        print(f"nhmg {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
