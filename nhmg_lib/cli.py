"""Command-line interface: ``nhmg download | synth | cohort | results | reconcile | multiverse | build``.

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
from nhmg_lib.data.atomic import atomic_path, atomic_write
from nhmg_lib.errors import NhmgError


def _definitions(pairs: list[str]) -> Definitions:
    """``["np_index=score", ...]`` -> Definitions; unknown keys or values are errors."""
    changes: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in (*OPTIONS, "covariate_rules"):
            raise NhmgError(
                f"--set {pair!r}: expected KEY=VALUE with KEY one of "
                f"{sorted(OPTIONS) + ['covariate_rules']}."
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
    from nhmg_lib.data.readers import MissingDataError
    from nhmg_lib.report import flow_chart

    defs = _definitions(args.set)
    _check_out(args.out, "--out")
    if args.out.name.lower() == "flow.json":
        raise NhmgError(f"--out {args.out}: the cohort CSV cannot be named flow.json, the "
                        "exclusion flow is written beside it under that name.")
    _check_out(args.out.with_name("flow.json"), "flow.json beside --out")
    _preflight(args.data_dir)
    cohort = cohort_from_dir(args.data_dir, defs, partial=True)
    if not cohort.complete or (cohort.cycle_losses and not args.allow_cycle_loss):
        # the counts the present files decide, then what is missing or lost
        flow_path = cohort.write_flow(args.out.with_name("flow.json"))
        print(cohort.flow_text(flow_chart.paper_by_step()))
        _print_plausibility(flow_path)
        print(f"Wrote {flow_path} (the flow only; no cohort CSV)")
        if not cohort.complete:
            raise MissingDataError(
                f"{args.data_dir} lacks {len(cohort.missing)} file(s) the chosen definitions "
                f"need, so the flow stops before the step '{cohort.missing[0]['step']}':\n"
                f"{cohort.missing_text()}\nAdd these files (`nhmg download`) or change the "
                "definition that needs them (--set).")
        cohort.check_cycles()
    _require_cohort(cohort)
    written = cohort.to_csv(args.out, all_adults=args.all)
    print(cohort.flow_text(flow_chart.paper_by_step()))
    _print_plausibility(args.out.with_name("flow.json"))
    for loss in cohort.cycle_losses:  # kept on request (--allow-cycle-loss)
        _say(f"  note: {loss['message']}")
    print("Wrote " + " and ".join(str(p) for p in written))


def _cmd_results(args: argparse.Namespace) -> None:
    from nhmg_lib.cohort.flow import cohort_from_dir
    from nhmg_lib.report.provenance import data_record
    from nhmg_lib.report.results import collect_with_reasons
    from nhmg_lib.survey.bootstrap import require_memory

    defs = _definitions(args.set)
    if args.boot < MIN_BOOT:
        raise NhmgError(f"--boot {args.boot}: at least {MIN_BOOT} bootstrap resamples are needed "
                        "for percentile confidence intervals (the paper's analysis uses 1000).")
    _non_negative("--seed", args.seed)
    _check_out(args.out, "--out")
    verified = _preflight(args.data_dir)
    start = time.perf_counter()
    cohort = cohort_from_dir(args.data_dir, defs)
    _say(cohort.flow_text())
    if not args.allow_cycle_loss:
        cohort.check_cycles()
    # The bootstraps (Table S3, Tables 7-8) must fit in memory: refused now, with the
    # estimate, rather than failing at the allocation after minutes of other sections.
    require_memory(args.boot, cohort.final_n, f"--boot {args.boot}")
    records, reasons = collect_with_reasons(args.data_dir, defs, boot=args.boot, seed=args.seed,
                                            cohort=cohort)
    records.append(data_record(verified.mode, args.data_dir))
    out = Path(args.out)
    with atomic_write(out) as fh:
        fh.write(json.dumps(records, indent=1, allow_nan=False) + "\n")
    print(f"Wrote {len(records)} records to {out} in {time.perf_counter() - start:.1f} s "
          f"({verified.mode} data).")
    _report_missing_estimates(records, reasons)


def _cmd_reconcile(args: argparse.Namespace) -> None:
    import pandas as pd

    from nhmg_lib.data.derived_alm import dxa_seqns
    from nhmg_lib.report.reconciliation import paper_covariate_step, reconciliation

    defs = _definitions(args.set)
    dxa = dxa_seqns(args.dxa_set) if args.dxa_set else None
    rec = reconciliation(args.data_dir, defs, dxa=dxa, day2_stand_in=args.day2_stand_in)
    reaching, excluded, pct = paper_covariate_step()
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print("Reaching the covariate step, per cycle:\n" + rec.reaching.to_string())
        print("\nLacking each covariate (alone, cumulative in the paper's order):\n"
              + rec.gaps.to_string())
        print("\nExcluded at the covariate step under each candidate rule:\n"
              + rec.rules.round(1).to_string())
    print(f"\nPaper: {excluded:,} of {reaching:,} excluded ({pct:.1f}%). Closest rule set: "
          f"{' + '.join(rec.closest) or 'none decidable'}."
          + (" DXA presence from the derived set (a stand-in for DXX)." if dxa else "")
          + (f" Day-2 recall alone in cycle(s) {', '.join(rec.day2_cycles)}."
             if rec.day2_cycles else ""))


def _cmd_multiverse(args: argparse.Namespace) -> None:
    from nhmg_lib.analyses import multiverse
    from nhmg_lib.cohort.flow import build_cohort
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
    fixed = multiverse.mediation_fixed(args.vary_mediation)
    if Path(args.out).suffix not in (".parquet", ".csv"):
        raise NhmgError(f"--out {args.out}: use a .parquet or .csv file name")
    _check_out(Path(args.out), "--out")
    if args.records:
        _check_out(Path(args.records), "--records")
    check_scheduler(args.scheduler)
    _preflight(args.data_dir)
    raw = load_raw(args.data_dir)
    cohort = build_cohort(raw)  # the default specification's flow, per cycle
    _say(cohort.flow_text())
    if not args.allow_cycle_loss:
        cohort.check_cycles()
    result = multiverse.run(raw, settings, workers=args.workers,
                            scheduler=args.scheduler, cache=not args.no_cache,
                            mediation_boot=args.mediation_boot, mediation_fixed=fixed,
                            progress=True)
    written = [result.to_file(args.out)]
    joint = None
    if args.null > 0:
        joint = multiverse.joint_test(result, specification_curve.paper_directions(), args.null,
                                      args.seed, workers=args.workers, scheduler=args.scheduler,
                                      cache=not args.no_cache, progress=True)
    if args.records:
        recs = specification_curve.records(result, joint)
        with atomic_write(args.records) as fh:
            fh.write(json.dumps(recs, indent=1, allow_nan=False) + "\n")
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

    from nhmg_lib.data import filecache
    from nhmg_lib.data.generated import MARKER, generated_files

    _non_negative("--seed", args.seed)
    if not (math.isfinite(args.scale) and 0 < args.scale <= 1):
        raise NhmgError(f"--scale {args.scale}: must be a fraction of the full sample size, "
                        "greater than 0 and at most 1 (e.g. 0.25).")
    out = Path(args.out)
    _check_name_lengths(out, "--out")
    if out.exists() and not out.is_dir():
        raise NhmgError(f"--out {out}: exists and is not a directory.")
    if out.is_dir():
        # Only files the generator wrote (its record in the marker) may be written over.
        made = {n.upper(): sha for n, sha in generated_files(out).items()}
        labelled = (out / MARKER).is_file()
        others = [p.name for p in out.iterdir() if not p.name.startswith(".")
                  and p.name != MARKER and (p.suffix.lower() == ".xpt" or not labelled)
                  and made.get(p.name.upper()) != (filecache.sha256(p) if p.is_file() else None)]
        if others and not args.force:
            raise NhmgError(
                f"--out {out} holds {len(others)} item(s) the synthetic-data generator did "
                f"not write (e.g. {', '.join(sorted(others)[:3])}): writing synthetic files "
                "there could overwrite the real NHANES files. Choose an empty directory, or "
                "add --force (files of known CDC releases are never overwritten).")
    _check_out(out / MARKER, "--out")


def _check_out(path: Path, flag: str) -> None:
    """Fail before any computation if ``path`` cannot be written as a file."""
    import tempfile

    from nhmg_lib.data.atomic import describe

    path = Path(path)
    _check_name_lengths(path, flag)
    try:
        path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        pass  # a new file; a file used as a folder is named below
    except OSError as exc:  # a name too long, ...
        raise NhmgError(f"{flag} {path}: cannot be written: {describe(exc)}.") from None
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


def _check_name_lengths(path: Path, flag: str) -> None:
    """Every name still to be created must fit the file system's limit (``NAME_MAX``, 255
    bytes on most), or the write would fail after the computation."""
    existing = Path(os.path.abspath(path))
    while not os.path.exists(existing) and existing != existing.parent:
        existing = existing.parent  # os.path.exists is False (no error) for a too-long name
    try:
        limit = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    for part in Path(os.path.abspath(path)).relative_to(existing).parts:
        size = len(os.fsencode(part))
        if size > limit:
            short = part if len(part) <= 40 else f"{part[:20]}...{part[-12:]}"
            raise NhmgError(f"{flag}: the name {short!r} is {size} bytes long; the file system "
                            f"of {existing} allows at most {limit}. Choose a shorter name.")


def _preflight(data_dir: Path):
    """Verify every file of the data directory before using it (damage is an error)."""
    from nhmg_lib.data.releases import require_intact

    report = require_intact(data_dir)
    _say(f"Verified {report.summary()}")
    for check in report.files:
        differs = check.status == "other release" and "not recorded" not in check.message
        if differs or "warning" in check.message or "labelled SYNTHETIC" in check.message:
            _say(f"  note: {check.file}: {check.message}")
    if report.mode == "mixed":
        _say("  note: synthetic and NHANES files are mixed in this folder; the results are "
             "neither the NHANES estimates nor a clean synthetic run.")
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
    set_help = (f"change a definition, KEY=VALUE (keys: {', '.join(sorted(OPTIONS))}; and "
                "covariate_rules=RULE+RULE, candidate rules of the covariate step); repeatable")
    loss_help = ("go on when a cycle keeps nobody, or far less than its share, at some step "
                 "(by default an error naming the step and the variable)")

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
    c.add_argument("--allow-cycle-loss", action="store_true", help=loss_help)
    c.set_defaults(func=_cmd_cohort)

    r = sub.add_parser("results", help="compute every estimate of the book into results.json")
    r.add_argument("--data-dir", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--boot", type=int, default=1000,
                   help="bootstrap resamples for mediation (default 1000, at least 20)")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=set_help)
    r.add_argument("--allow-cycle-loss", action="store_true", help=loss_help)
    r.set_defaults(func=_cmd_results)

    q = sub.add_parser("reconcile", help="the covariate step per cycle: covariates lacking "
                       "and candidate rules beside the paper's count (works on partial folders)")
    q.add_argument("--data-dir", type=Path, required=True)
    q.add_argument("--dxa-set", type=Path, default=None, metavar="PATH",
                   help="who has a DXA limb measurement, from a derived set (nhanes-derived-alm) "
                        "standing in for missing DXX files")
    q.add_argument("--day2-stand-in", action="store_true",
                   help="in a cycle without its day-1 recall file, a reliable day-2 recall "
                        "stands for two reliable recalls")
    q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=set_help)
    q.set_defaults(func=_cmd_reconcile)

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
                   help="resamples of the proportions mediated (row bootstrap, both models refitted; default 200)")
    m.add_argument("--vary-mediation", action="append", default=[], metavar="DIMENSION[,...]|all",
                   help="also vary the proportions mediated over these dimensions, which they "
                        "hold at the default unless asked (each multiplies their refits); repeatable")
    m.add_argument("--workers", type=int, default=None, help="local processes (default: every core)")
    m.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on this dask.distributed scheduler instead of local processes")
    m.add_argument("--records", type=Path, default=None, help="also write the summary as results.json records")
    m.add_argument("--no-cache", action="store_true", help="neither read nor write the disk cache")
    m.add_argument("--allow-cycle-loss", action="store_true", help=loss_help)
    m.set_defaults(func=_cmd_multiverse)

    b = sub.add_parser("build", help="build the book (HTML, or PDF with --pdf)")
    b.add_argument("--pdf", action="store_true")
    b.add_argument("--data", choices=["auto", "real", "synthetic"], default=None,
                   help="data mode (default: $NHMG_DATA or auto)")
    b.add_argument("--force", action="store_true", help="re-execute every chapter")
    b.set_defaults(func=_cmd_build)
    return p


class _Terminated(BaseException):
    """SIGTERM, raised like Ctrl-C so that clean-up (worker pools, partial files) runs."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    import signal

    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: leave signals alone
        previous = None
    try:
        for key, value in vars(args).items():  # before any file is touched
            if isinstance(value, Path):
                _check_name_lengths(value, "--" + key.replace("_", "-"))
        args.func(args)
    except NhmgError as exc:
        print(f"nhmg {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nhmg {args.command}: interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        print(f"nhmg {args.command}: terminated", file=sys.stderr)
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
