"""Stopping a run: SIGTERM or SIGINT checkpoint and exit 0, and the next run continues; an
interrupt raised inside a resolver (KeyboardInterrupt, SystemExit) stops the run without a
checkpoint instead of becoming a dead letter."""

import json
import os
import signal
import subprocess
import time

import pytest

from statefold import FileSource, State, stream
from statefold.testing import StreamTester

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STATEFOLD = os.path.join(ROOT, ".venv", "bin", "statefold")
DEFS = os.path.join(ROOT, "examples", "login", "defs.py")


def write_logins(path, count):
    with open(path, "w") as f:
        for i in range(count):
            user = f"u{i % 5000}"
            f.write(json.dumps({"key": user, "value": {"user_id": user, "ip_address": f"10.0.0.{i % 7}"},
                                "timestamp": i}) + "\n")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_checkpoints_and_the_next_run_continues(tmp_path, signum):
    events = tmp_path / "logins.jsonl"
    total = 1_500_000
    write_logins(events, total)
    state_dir = str(tmp_path / "state")
    command = [STATEFOLD, "run", DEFS, "--input", str(events), "--state-dir", state_dir]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)  # past start-up, into the stream
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert out.startswith("stopped: "), out + err
    first = int(out.split()[1].replace(",", ""))
    assert 0 < first < total

    rest = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert rest.startswith("done: ")
    assert first + int(rest.split()[1].replace(",", "")) == total
    assert "0 dead letters" in out and "0 dead letters" in rest
    got = subprocess.run([STATEFOLD, "get", "user", "u7", "--state-dir", state_dir],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(got) == {"user.id": "u7", "user.unique_ip_count": 7}


from dataclasses import dataclass, field  # noqa: E402
from typing import List  # noqa: E402


@dataclass
class Seen:
    values: List[str] = field(default_factory=list)


@stream(source=FileSource(name="events"))
def interruptible(event: dict, state: State[Seen]) -> None:
    if event["v"] == "stop":
        raise KeyboardInterrupt
    state.values.append(event["v"])


def test_interrupt_inside_a_resolver_stops_the_run_without_committing(tmp_path):
    tester = StreamTester(interruptible, state_dir=str(tmp_path))
    tester.send({"v": "a"}, key="k")
    with pytest.raises(KeyboardInterrupt):
        tester.send_many([{"key": "k", "value": {"v": "b"}}, {"key": "k", "value": {"v": "stop"}}])
    assert tester.dead_letters() == []
    assert tester.state(interruptible, "k") == Seen(values=["a"])  # "b" was not committed either
