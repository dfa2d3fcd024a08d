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

    report = download(cycles=args.cycles, data_dir=args.data_dir, base_url=args.base_url,
                      workers=args.workers, progress=sys.stderr.isatty())
    print(report)


def _cmd_synth(args: argparse.Namespace) -> None:
    from nhmg_lib.data.synthetic import write_synthetic

    start = time.perf_counter()
    paths = write_synthetic(args.out, seed=args.seed, scale=args.scale)
    print(f"Wrote {len(paths)} synthetic NHANES files to {args.out} "
          f"(seed {args.seed}, scale {args.scale}) in {time.perf_counter() - start:.1f} s.")


def _cmd_cohort(args: argparse.Namespace) -> None:
    from nhmg_lib.cohort.flow import cohort_from_dir

    cohort = cohort_from_dir(args.data_dir, _definitions(args.set))
    written = cohort.to_csv(args.out, all_adults=args.all)
    print(cohort.flow_text())
    print("Wrote " + " and ".join(str(p) for p in written))


def _cmd_results(args: argparse.Namespace) -> None:
    from nhmg_lib.report.results import collect

    start = time.perf_counter()
    records = collect(args.data_dir, _definitions(args.set), boot=args.boot, seed=args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(records, indent=1, allow_nan=False) + "\n")
    print(f"Wrote {len(records)} records to {out} in {time.perf_counter() - start:.1f} s.")


def _cmd_multiverse(args: argparse.Namespace) -> None:
    from nhmg_lib.analyses import multiverse
    from nhmg_lib.data.readers import load_raw
    from nhmg_lib.report import specification_curve

    start = time.perf_counter()
    settings = multiverse.parse_settings(args.set)
    if Path(args.out).suffix not in (".parquet", ".csv"):
        raise NhmgError(f"--out {args.out}: use a .parquet or .csv file name")
    result = multiverse.run(load_raw(args.data_dir), settings, workers=args.workers,
                            scheduler=args.scheduler, cache=not args.no_cache)
    written = [result.to_file(args.out)]
    joint = None
    if args.null > 0:
        joint = multiverse.joint_test(result, specification_curve.paper_directions(), args.null,
                                      args.seed, workers=args.workers, scheduler=args.scheduler,
                                      cache=not args.no_cache)
    if args.records:
        recs = specification_curve.records(result, joint)
        Path(args.records).parent.mkdir(parents=True, exist_ok=True)
        Path(args.records).write_text(json.dumps(recs, indent=1, allow_nan=False) + "\n")
        written.append(Path(args.records))
    print(specification_curve.summary_table(result, joint).to_string())
    print(f"{len(result.specs):,} specifications x {len(result.totals)} estimates"
          f"{' (from the cache)' if result.from_cache else ''}; wrote "
          + " and ".join(map(str, written)) + f" in {time.perf_counter() - start:.1f} s.")


def _cmd_build(args: argparse.Namespace) -> None:
    from nhmg_lib.book.build import build

    print(build(pdf=args.pdf, data=args.data, force=args.force))


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
    d.set_defaults(func=_cmd_download)

    s = sub.add_parser("synth", help="write synthetic NHANES-shaped XPT files")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--scale", type=float, default=1.0, help="fraction of the full sample size")
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
    r.add_argument("--boot", type=int, default=1000, help="bootstrap resamples for mediation")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=set_help)
    r.set_defaults(func=_cmd_results)

    m = sub.add_parser("multiverse", help="every combination of the open choices: the "
                       "specification curve and its joint test")
    m.add_argument("--data-dir", type=Path, required=True)
    m.add_argument("--out", type=Path, required=True, help="table of estimates, .parquet or .csv")
    m.add_argument("--set", action="append", default=[], metavar="DIMENSION=V1,V2",
                   help="restrict a dimension of the grid (or 'all'); repeatable")
    m.add_argument("--null", type=int, default=500, help="null resamples of the joint test (0: none)")
    m.add_argument("--seed", type=int, default=1)
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
