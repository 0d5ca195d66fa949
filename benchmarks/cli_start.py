"""CLI start (issue 18 goal 10): wall time of `pgqueue status` and `pgqueue enqueue`, whole
commands as a script or a health check runs them, against a migrated database, beside the bare
interpreter (`python -c pass`) and a raw asyncpg script (import, connect, one query: the floor
of any command that talks to the database) measured in the same run. Run alone: `python -m benchmarks.cli_start`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from benchmarks.db import BENCH_DSN, Databases

RAW = (
    "import asyncio, os, asyncpg\n"
    "async def main():\n"
    "    conn = await asyncpg.connect(os.environ['PGQUEUE_DSN'])\n"
    "    await conn.fetchval('SELECT count(*) FROM pgqueue.jobs')\n"
    "    await conn.close()\n"
    "asyncio.run(main())\n"
)
COMMANDS = {
    "interpreter": ["-c", "pass"],
    "raw": ["-c", RAW],  # the floor of any asyncpg script: import, connect, one query
    "status": ["-m", "pgqueue", "status"],
    "enqueue": ["-m", "pgqueue", "enqueue", "bench.cli", "--args", "[1]"],
}


def timed(argv: list[str], dsn: str) -> float:
    env = {**os.environ, "PGQUEUE_DSN": dsn}
    # As installed (pip writes bytecode): this sandbox sets PYTHONDONTWRITEBYTECODE, which
    # would make every run compile ~140 modules from source (~0.15 s) and measure that instead.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    begin = time.perf_counter()
    subprocess.run([sys.executable, *argv], env=env, check=True, capture_output=True)
    return time.perf_counter() - begin


async def cli_start(databases: Databases, rounds: int = 5) -> dict[str, Any]:
    """Median wall time per command over `rounds` interleaved rounds (seconds)."""
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    async with databases.fresh() as dsn:
        for argv in COMMANDS.values():
            await asyncio.to_thread(timed, argv, dsn)  # warm-up: bytecode written, caches
        for _ in range(rounds):
            for name, argv in COMMANDS.items():
                times[name].append(await asyncio.to_thread(timed, argv, dsn))
    return {name: statistics.median(values) for name, values in times.items()}


async def _alone() -> dict[str, Any]:
    databases = Databases(BENCH_DSN)
    try:
        return await cli_start(databases)
    finally:
        await databases.close()


def main() -> None:
    for name, seconds in asyncio.run(_alone()).items():
        print(f"{name}: {seconds * 1000:.0f} ms")


if __name__ == "__main__":
    main()
