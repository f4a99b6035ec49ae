"""The benchmark scripts run to the end with tiny counts (no timing is asserted: see below).

Timings depend on the machine and on what else runs on it, so these tests only show that each
script works and prints its ratios; ``scripts/bench`` is where the numbers are read.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
#: Seconds one tiny benchmark run may take (a redis-server start included).
RUN_TIMEOUT = 120.0
#: A ratio column as the scripts print it, e.g. ``  0.27x``.
RATIO = re.compile(r"\d+\.\d\dx")


def run_bench(script: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert proc.returncode == 0, f"{script} exited with {proc.returncode}:\n{proc.stderr}"
    return proc.stdout


def test_bench_pubsub_runs_and_prints_ratios() -> None:
    out = run_bench("bench_pubsub.py", "--subscribers", "20", "--rounds", "1", "--broadcasts", "2")
    rows = {line.split("  ")[0]: line for line in out.splitlines()}
    for name in (
        "(a) plain loop over sockets",
        "(b) broadcaster, 1 sub/socket, memory://",
        "nova pubsub, memory://",
    ):
        assert name in rows, out
        assert RATIO.search(rows[name]), out
    assert "redis://" in out, out  # measured, or skipped with a message saying why


def test_bench_http_runs_and_prints_ratios() -> None:
    out = run_bench("bench_http.py", "--requests", "20", "--rounds", "1")
    rows = [line for line in out.splitlines() if line.startswith("plain FastAPI")]
    assert rows and len(RATIO.findall(rows[0])) == 2, out


def test_bench_ws_runs_through_uvicorn_and_prints_ratios() -> None:
    out = run_bench(
        "bench_ws.py",
        "--connections",
        "20",
        "--messages",
        "2",
        "--rounds",
        "1",
        "--echo-clients",
        "2",
        "--echo-seconds",
        "0.2",
        "--no-redis",
    )
    rows = {line[:28].strip(): line for line in out.splitlines()}
    for name in (
        "bare send loop",
        "plain FastAPI send loop",
        "broadcaster, 1 sub/socket",
        "nova memory://",
        "nova echo",
    ):
        assert name in rows, out
        assert RATIO.search(rows[name]), out
    assert "nova p99 / bare loop p99" in out and "target" in out, out
