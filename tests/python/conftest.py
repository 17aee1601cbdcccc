"""Shared fixtures for the statefold Python suite.

`make_tester(*resolvers, **options)` builds a `statefold.testing.StreamTester` (the real
engine) whose state directory lives in pytest's tmp_path; `statefold_cli(*args)` runs the
installed `statefold` command as a subprocess; `redis_server` is a real redis-server of the
test's own (redis_server.py), stopped by PID at the test's end.
"""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, List

import pytest

from statefold.testing import StreamTester

from redis_server import RedisServer

REPO = Path(__file__).resolve().parents[2]
STATEFOLD_BIN = REPO / ".venv" / "bin" / "statefold"
LOGIN_DEFS = REPO / "examples" / "login" / "defs.py"
PUBLISHED_DEFS = REPO / "examples" / "login" / "reference_as_published.py"


@pytest.fixture
def make_tester(tmp_path):
    testers: List[StreamTester] = []
    counter = [0]

    def make(*resolvers: Any, **options: Any) -> StreamTester:
        counter[0] += 1
        tester = StreamTester(*resolvers, state_dir=str(tmp_path / f"tester{counter[0]}"), **options)
        testers.append(tester)
        return tester

    yield make
    for tester in testers:
        tester.close()


def run_cli(*args: Any, check: bool = False) -> subprocess.CompletedProcess:
    """Runs `.venv/bin/statefold ARGS...` and returns the completed process (text mode)."""
    assert STATEFOLD_BIN.exists(), f"{STATEFOLD_BIN} is missing: run `make build`"
    process = subprocess.run(
        [str(STATEFOLD_BIN), *[str(a) for a in args]],
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    if check and process.returncode != 0:
        raise AssertionError(
            f"statefold {' '.join(map(str, args))} exited {process.returncode}\n"
            f"stdout: {process.stdout}\nstderr: {process.stderr}"
        )
    return process


@pytest.fixture
def statefold_cli():
    return run_cli


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis")
    try:
        server.start()
    except RuntimeError as e:
        pytest.fail(f"redis-server did not start: {e}")
    try:
        yield server
    finally:
        server.stop()
