"""Run the benchmark suite and print the table: `python -m benchmarks.run`.

Every figure is a ratio to a baseline measured in the same run on the same database (raw SQL
loops with asyncpg), because this machine is shared and noisy. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson

from benchmarks import (
    cli_start,
    horizon,
    limits,
    peers,
    report,
    soak,
    startup,
    workflows,
    workloads,
)
from benchmarks.cluster import own_cluster
from benchmarks.db import BENCH_DSN, Databases, server_info
from benchmarks.measure import Rate, percentiles
from benchmarks.report import FAIL, INFO, Row, ms, rate, ratio, verdict
from benchmarks.workers import ROOT
from pgqueue.settings import WorkerSettings

WORKLOADS = (
    "enqueue",
    "batch",
    "drain",
    "latency",
    "deep",
    "soak",
    "sync",
    "startup",
    "cli",
    "limits",
    "workflows",
    "peers",
)
# Not in the default run: drains with 1..--max-processes worker processes, for docs/scaling.md.
# horizon: a transaction holding the xmin horizon under load (benchmarks/horizon.py).
# slow: drains of jobs sleeping 5-15 ms at concurrency 10 and at the default (docs/worker.md).
EXTRA = ("scaling", "horizon", "slow")
T = TypeVar("T")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per workload")
    parser.add_argument(
        "--only",
        default=",".join(WORKLOADS),
        help=f"comma-separated subset of {WORKLOADS + EXTRA}",
    )
    parser.add_argument(
        "--max-processes", type=int, default=4, help="scaling: up to this many worker processes"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="worker concurrency (default: none passed, the worker's own default, "
        "WorkerSettings().concurrency, as a plain `pgqueue worker` runs)",
    )
    parser.add_argument(
        "--high-concurrency",
        type=int,
        default=100,
        help="also drain with this concurrency (0: skip)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="interleaved rounds per drain/enqueue figure (median)"
    )
    parser.add_argument("--latency-samples", type=int, default=1000)
    parser.add_argument("--latency-spacing", type=float, default=0.010, help="seconds")
    parser.add_argument(
        "--deep-rows", type=int, default=100_000, help="ready, scheduled and finished rows each"
    )
    parser.add_argument("--soak-seconds", type=float, default=150.0)
    parser.add_argument("--soak-rate", type=float, default=500.0, help="jobs/s enqueued")
    parser.add_argument("--horizon-rate", type=float, default=500.0, help="jobs/s enqueued")
    parser.add_argument("--horizon-hold", type=float, default=60.0, help="seconds xmin is held")
    parser.add_argument("--horizon-before", type=float, default=20.0)
    parser.add_argument("--horizon-after", type=float, default=40.0)
    parser.add_argument("--horizon-reindex", action="store_true", help="REINDEX after the hold")
    parser.add_argument(
        "--plot", type=Path, default=ROOT / "benchmarks/results/soak.png", help="soak PNG"
    )
    parser.add_argument("--json", type=Path, default=None, help="where to save raw results")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    parser.add_argument(
        "--own-cluster",
        action="store_true",
        help="run on a throwaway cluster (initdb, autovacuum on) instead of PGQUEUE_BENCH_DSN",
    )
    parser.add_argument(
        "--worker-arg",
        action="append",
        default=[],
        help="extra argument for `pgqueue worker` (repeatable)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(WORKLOADS + EXTRA)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    return args


async def interleaved(
    rounds: int, variants: dict[str, Callable[[], Awaitable[Rate]]]
) -> dict[str, float]:
    """Median jobs/s of each variant over `rounds` rounds, each round running every variant once
    (so a noisy minute on a shared machine hits all of them, not one)."""
    seen: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, run_once in variants.items():
            seen[name].append((await run_once()).per_second)
    return {name: statistics.median(values) for name, values in seen.items()}


async def median_of(repeat: int, fn: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    runs = [await fn() for _ in range(repeat)]
    return {
        "pgqueue": statistics.median(r["pgqueue"]["per_second"] for r in runs),
        "raw": statistics.median(r["raw"]["per_second"] for r in runs),
    }


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def run(args: argparse.Namespace, base: str) -> tuple[list[Row], dict[str, Any]]:
    only = set(args.only.split(","))
    jobs, rep = args.jobs, args.repeat
    # `given` goes to the worker processes of rows 3, 4 and 7: None passes no --concurrency, so
    # they run at the default settings; `c` is the number they run at, for labels and baselines.
    given = args.concurrency
    c = WorkerSettings.from_env().concurrency if given is None else given
    at = f"at the default settings (concurrency {c})" if given is None else f"concurrency {c}"
    wargs = tuple(args.worker_arg)
    rows: list[Row] = []
    results: dict[str, Any] = {}
    dbs = Databases(base)
    try:
        if "enqueue" in only:
            log("enqueue, one job per transaction ...")
            r = await median_of(rep, lambda: workloads.enqueue_single(dbs, jobs))
            results["enqueue"] = r
            rows.append(
                Row(
                    "1. enqueue, 1 job/transaction (app.enqueue)",
                    rate(r["pgqueue"]),
                    f"raw INSERT + NOTIFY {rate(r['raw'])}",
                    ratio(r["pgqueue"], r["raw"]),
                    ">= 0.95x",
                    verdict(r["pgqueue"] >= 0.95 * r["raw"]),
                )
            )
        if "batch" in only:
            log("enqueue, batches of 1000 ...")
            r = await median_of(rep, lambda: workloads.enqueue_batch(dbs, jobs, 1000))
            results["batch"] = r
            rows.append(
                Row(
                    "2. enqueue, batches of 1000 (app.enqueue_many)",
                    rate(r["pgqueue"]),
                    f"raw COPY + NOTIFY {rate(r['raw'])}",
                    ratio(r["pgqueue"], r["raw"]),
                    ">= 0.80x",
                    verdict(r["pgqueue"] >= 0.80 * r["raw"]),
                )
            )
        raw50 = one = None
        drains: dict[str, Callable[[], Awaitable[Rate]]] = {}
        small = min(jobs, 5000)
        hc = args.high_concurrency
        if only & {"drain", "deep", "sync"}:
            drains["raw_b50"] = lambda: workloads.drain_raw(dbs, jobs, 50)
        if only & {"drain", "sync"}:
            drains["one"] = lambda: workloads.drain_pgqueue(dbs, jobs, 1, given, extra_args=wargs)
        if "drain" in only:
            drains["raw_b1"] = lambda: workloads.drain_raw(dbs, small, 1)
            drains["raw_one_statement_b50"] = lambda: workloads.drain_raw(
                dbs, jobs, 50, one_statement=True
            )
            drains["two"] = lambda: workloads.drain_pgqueue(dbs, jobs, 2, given, extra_args=wargs)
            # The like-for-like baseline of one worker process: its pool, its claim size.
            drains[f"raw_pipelined_b{c}"] = lambda: workloads.drain_raw_pipelined(dbs, jobs, c)
            if hc:
                drains["high"] = lambda: workloads.drain_pgqueue(dbs, jobs, 1, hc, extra_args=wargs)
                drains[f"raw_pipelined_b{hc}"] = lambda: workloads.drain_raw_pipelined(
                    dbs, jobs, hc
                )
        if "scaling" in only:
            drains["raw_b50"] = lambda: workloads.drain_raw(dbs, jobs, 50)
            for procs in range(1, args.max_processes + 1):
                for conc in sorted({c, hc} - {0}):
                    drains[f"scale_{procs}x{conc}"] = functools.partial(
                        workloads.drain_pgqueue, dbs, jobs, procs, conc, extra_args=wargs
                    )
        if "slow" in only:
            slow_jobs = min(jobs, 2000)
            drains["slow_c10"] = lambda: workloads.drain_slow(dbs, slow_jobs, 10)
            drains["slow_default"] = lambda: workloads.drain_slow(dbs, slow_jobs, given)
        if "sync" in only:
            drains["sync"] = lambda: workloads.drain_pgqueue(
                dbs, jobs, 1, given, task=workloads.NOOP_SYNC, extra_args=wargs
            )
        if drains:
            log(f"drains, {rep} interleaved round(s): {', '.join(drains)} ...")
            drained = await interleaved(rep, drains)
            results["drain"] = drained
            raw50, one = drained.get("raw_b50"), drained.get("one")
        if "drain" in only:
            assert raw50 is not None and one is not None
            raw1, raw_one, two = drained["raw_b1"], drained["raw_one_statement_b50"], drained["two"]
            pipelined = drained[f"raw_pipelined_b{c}"]
            rows += [
                Row(
                    "   baseline: raw claim + done, batch 1",
                    rate(raw1),
                    f"({small:,} jobs)",
                    "",
                    "",
                    INFO,
                ),
                Row("   baseline: raw claim + done, batch 50", rate(raw50), "", "", "", INFO),
                Row(
                    "   raw claim-and-done in one statement, batch 50",
                    rate(raw_one),
                    "(no 'running' state: the floor)",
                    ratio(raw_one, raw50),
                    "",
                    INFO,
                ),
                Row(
                    f"   baseline: raw claim || done on a pool, batch {c}",
                    rate(pipelined),
                    f"(as a worker at concurrency {c})",
                    ratio(pipelined, raw50),
                    "",
                    INFO,
                ),
                Row(
                    f"3. drain, 1 worker process, {at}",
                    rate(one),
                    f"raw batch 50 {rate(raw50)}",
                    ratio(one, raw50),
                    ">= 0.50x",
                    verdict(one >= 0.5 * raw50),
                ),
                Row(
                    f"   the same against raw pool batch {c}",
                    rate(one),
                    f"raw pool batch {c} {rate(pipelined)}",
                    ratio(one, pipelined),
                    "",
                    INFO,
                ),
                Row(
                    f"3. drain, 2 worker processes, {at}",
                    rate(two),
                    f"1 process {rate(one)}",
                    ratio(two, one),
                    "> 1.00x",
                    verdict(two > one),
                ),
            ]
            if hc:
                high, pipelined_high = drained["high"], drained[f"raw_pipelined_b{hc}"]
                rows += [
                    Row(
                        f"   baseline: raw claim || done on a pool, batch {hc}",
                        rate(pipelined_high),
                        f"(as a worker at concurrency {hc})",
                        ratio(pipelined_high, raw50),
                        "",
                        INFO,
                    ),
                    Row(
                        f"3. drain, 1 worker process, concurrency {hc}",
                        rate(high),
                        f"raw pool batch {hc} {rate(pipelined_high)}",
                        ratio(high, pipelined_high),
                        ">= 0.50x",
                        verdict(high >= 0.5 * pipelined_high),
                    ),
                    Row(
                        "   the same against raw batch 50, one connection",
                        rate(high),
                        f"raw batch 50 {rate(raw50)}",
                        ratio(high, raw50),
                        "",
                        INFO,
                    ),
                ]
        if "scaling" in only:
            assert raw50 is not None
            for name, value in drained.items():
                if name.startswith("scale_"):
                    count, each = name.removeprefix("scale_").split("x")
                    single = drained[f"scale_1x{each}"]
                    rows.append(
                        Row(
                            f"scaling: {count} worker process(es), concurrency {each} each",
                            rate(value),
                            f"raw batch 50 {rate(raw50)}",
                            ratio(value, raw50),
                            f"{value / single:.2f}x of 1 process",
                            INFO,
                        )
                    )
        if "slow" in only:
            slow10, slow_default = drained["slow_c10"], drained["slow_default"]
            rows += [
                Row(
                    "   drain, jobs sleeping 5-15 ms, concurrency 10",
                    rate(slow10),
                    f"({slow_jobs:,} jobs)",
                    "",
                    "",
                    INFO,
                ),
                Row(
                    f"   drain, jobs sleeping 5-15 ms, {at}",
                    rate(slow_default),
                    f"concurrency 10 {rate(slow10)}",
                    ratio(slow_default, slow10),
                    "",
                    INFO,
                ),
            ]
        if "latency" in only:
            n, gap = args.latency_samples, args.latency_spacing
            log(
                f"latency: raw LISTEN loop and pgqueue worker, {n} jobs each, {gap * 1000:.0f} ms apart ..."
            )
            seen = await workloads.latency(dbs, n, gap, given)
            raw, ours = percentiles(seen["raw"]), percentiles(seen["pgqueue"])
            results["latency"] = {"raw": raw, "pgqueue": ours}
            rows += [
                Row(
                    "4. latency enqueue -> start, p50",
                    ms(ours["p50"]),
                    f"raw LISTEN loop {ms(raw['p50'])}",
                    f"{ours['p50'] - raw['p50']:+.2f} ms",
                    "<= +1 ms",
                    verdict(ours["p50"] <= raw["p50"] + 1.0),
                ),
                Row(
                    "4. latency, p95",
                    ms(ours["p95"]),
                    ms(raw["p95"]),
                    ratio(ours["p95"], raw["p95"]),
                    "",
                    INFO,
                ),
                Row(
                    "4. latency, p99",
                    ms(ours["p99"]),
                    ms(raw["p99"]),
                    ratio(ours["p99"], raw["p99"]),
                    "<= 1.50x",
                    verdict(ours["p99"] <= 1.5 * raw["p99"]),
                ),
                Row(
                    "4. latency, max",
                    ms(ours["max"]),
                    ms(raw["max"]),
                    ratio(ours["max"], raw["max"]),
                    "",
                    INFO,
                ),
            ]
        if "deep" in only:
            rows_each = args.deep_rows
            # The same number of jobs as the shallow drain, so the two rates compare like for like.
            window = min(jobs, rows_each)
            log(f"deep backlog: 3 x {rows_each:,} rows, draining {window:,} ...")
            deep = await workloads.deep_backlog(dbs, rows_each, window, c, rep, log=log)
            assert raw50 is not None
            results["deep"] = deep
            d, shallow = deep["pgqueue"], deep["shallow"]
            rows += [
                Row(
                    f"5. deep backlog drain ({rows_each:,} ready + scheduled + finished)",
                    rate(d),
                    f"shallow drain {rate(shallow)}",
                    ratio(d, shallow),
                    ">= 0.90x",
                    verdict(d >= 0.9 * shallow),
                ),
                Row(
                    "   raw batch 50 on the deep backlog",
                    rate(deep["raw_b50"]["per_second"]),
                    f"raw batch 50 shallow {rate(raw50)}",
                    ratio(deep["raw_b50"]["per_second"], raw50),
                    "",
                    INFO,
                ),
            ]
        if "soak" in only:
            log(f"soak: {args.soak_rate:.0f} jobs/s for {args.soak_seconds:.0f}s ...")
            s = await soak.soak(dbs, args.soak_seconds, args.soak_rate, c)
            soak.plot(s, args.plot)
            results["soak"] = s
            rows += [
                Row(
                    f"6. soak {args.soak_seconds:.0f}s at {args.soak_rate:.0f} jobs/s: throughput",
                    rate(s["mean_rate"]),
                    f"enqueue rate {rate(args.soak_rate)}",
                    f"±{s['max_deviation'] * 100:.1f}% worst {s['bucket']:.0f}s bucket",
                    "within ±10%",
                    verdict(s["max_deviation"] <= 0.10),
                ),
                Row(
                    "6. soak: latency p50 / worst p99 of a bucket",
                    f"{ms(s['p50_ms'])} / {ms(s['p99_ms'])}",
                    "",
                    "",
                    "",
                    INFO,
                ),
                Row(
                    "6. soak: n_dead_tup max, 1st half / 2nd half",
                    f"{s['dead_max_first_half']:,} / {s['dead_max_second_half']:,}",
                    f"{s['autovacuums']} autovacuums",
                    "",
                    "bounded",
                    dead_verdict(s, args.soak_seconds),
                ),
                Row(
                    "6. soak: table / index size at the end",
                    f"{s['table_bytes_end'] / 2**20:.1f} MB / {s['index_bytes_end'] / 2**20:.1f} MB",
                    f"{s['enqueued']:,} jobs kept as history",
                    "",
                    "",
                    INFO,
                ),
            ]
        if "sync" in only:
            assert raw50 is not None
            sync = drained["sync"]
            rows.append(
                Row(
                    f"7. drain, sync tasks (thread pool), {at}",
                    rate(sync),
                    f"raw batch 50 {rate(raw50)}",
                    ratio(sync, raw50),
                    "",
                    INFO if one is None else f"{sync / one:.2f}x async",
                )
            )
        if "startup" in only:
            log("start-up: first job after worker.start() returns ...")
            s = await startup.startup(dbs)
            results["startup"] = s
            rows += startup_rows(s)
        if "cli" in only:
            log("CLI start: pgqueue status, pgqueue enqueue ...")
            t = await cli_start.cli_start(dbs)
            results["cli"] = t
            rows += cli_rows(t)
        if "limits" in only:
            limit_rows, results["limits"] = await limits.measure(dbs, jobs, c, rep, wargs, log)
            rows += limit_rows
        if "workflows" in only:
            log("workflows: a chain of 1,000, a group of 10,000 + callback, and without ...")
            results["workflows"] = await workflows.measure(dbs, c)
            rows += workflows.rows(results["workflows"], c)
        if "horizon" in only:
            log(f"horizon: xmin held {args.horizon_hold:.0f}s at {args.horizon_rate:.0f} jobs/s")
            results["horizon"] = await horizon.horizon(
                dbs,
                args.horizon_rate,
                args.horizon_before,
                args.horizon_hold,
                args.horizon_after,
                c,
                reindex=args.horizon_reindex,
            )
            rows += horizon.rows(results["horizon"])
        if "peers" in only:  # PgQueuer and Procrastinate beside pgqueue (benchmarks/peers.py)
            results["peers"] = await peers.measure(base, jobs, 1000, rep, log)
            rows += peers.rows(results["peers"])
    finally:
        await dbs.close()
    return rows, results


def startup_rows(s: dict[str, Any]) -> list[Row]:
    after, raw = s["after_start_p50"] * 1000, s["raw_claim_p50"] * 1000
    return [
        Row(
            f"8. start-up: first job after worker.start() returns, p50 of {s['rounds']}",
            ms(after),
            f"raw claim, open connection {ms(raw)}",
            ratio(after, raw),
            "<= 20 ms",
            verdict(after <= 20.0),
        ),
        Row(
            "8. start-up: worst round / start() itself, p50",
            f"{ms(s['after_start_max'] * 1000)} / {ms(s['start_p50'] * 1000)}",
            "",
            "",
            "",
            INFO,
        ),
    ]


def cli_rows(t: dict[str, float]) -> list[Row]:
    raw, bare = t["raw"] * 1000, t["interpreter"] * 1000
    return [
        Row(
            f"10. CLI: pgqueue {name}, whole command",
            f"{t[name] * 1000:.0f} ms",
            f"raw asyncpg script {raw:.0f} ms (python -c pass {bare:.0f} ms)",
            ratio(t[name], t["raw"]),
            "< 300 ms",
            verdict(t[name] < 0.3),
        )
        for name in ("status", "enqueue")
    ]


def dead_verdict(s: dict[str, Any], seconds: float) -> str:
    """Bounded means autovacuum ran and kept dead tuples within its own trigger point; a soak
    shorter than two autovacuum naptimes (60 s each by default) cannot show that."""
    if s.get("autovacuum") == "off":
        return f"{INFO}: autovacuum off here (--own-cluster)"
    if seconds < 120:
        return f"{INFO}: < 120 s"
    return verdict(s["autovacuums"] > 0 and s["dead_max_second_half"] <= dead_bound(s))


def dead_bound(s: dict[str, Any]) -> float:
    """Dead tuples are bounded if they stay within what autovacuum's trigger allows for the
    table at its final size, plus what the soak writes in two naptimes (two dead versions per
    job: claimed, finished) while autovacuum is on its way."""
    live = float(s["samples"][-1]["n_live_tup"]) if s["samples"] else 0.0
    return 50 + 0.2 * live + 2 * float(s["rate"]) * 2 * 60


def worker_loop(worker_args: list[str]) -> str:
    """The event loop the worker processes run (`pgqueue worker --loop`, default asyncio)."""
    choice = "asyncio"
    for arg in worker_args:
        if arg.startswith("--loop="):
            choice = arg.split("=", 1)[1]
    if choice == "auto":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            return "asyncio (auto)"
        return "uvloop (auto)"
    return choice


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "pgqueue", "migrations"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(own_cluster()) if args.own_cluster else BENCH_DSN
        rows, results, info = asyncio.run(run_all(args, base))
    report.print_table(rows, info)
    save(args, rows, results, info)


async def run_all(
    args: argparse.Namespace, base: str
) -> tuple[list[Row], dict[str, Any], dict[str, Any]]:
    load = os.getloadavg()
    started = time.time()
    rows, results = await run(args, base)
    info = {
        "server": {**await server_info(base), "own_cluster": args.own_cluster},
        "load_before": load,
        "loop": worker_loop(args.worker_arg),
        "commit": git_commit(),
        "args": f"--jobs {args.jobs} --concurrency {args.concurrency or 'default'} --repeat {args.repeat} "
        f"--deep-rows {args.deep_rows} --soak-seconds {args.soak_seconds:.0f}, "
        f"{time.time() - started:.0f}s",
    }
    return rows, results, info


def save(
    args: argparse.Namespace, rows: list[Row], results: dict[str, Any], info: dict[str, Any]
) -> None:
    out = args.json or ROOT / "benchmarks/results" / time.strftime("%Y%m%d-%H%M%S.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(
        orjson.dumps(
            {"info": info, "rows": report.rows_as_json(rows), "results": results},
            option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY,
            default=str,
        )
    )
    if args.markdown:
        args.markdown.write_text(report.markdown(rows, info))
    failed = [r for r in rows if r.verdict == FAIL]
    log(
        f"results: {out}; {len(failed)} target(s) missed"
        if failed
        else f"results: {out}; all targets met"
    )


if __name__ == "__main__":
    main()
