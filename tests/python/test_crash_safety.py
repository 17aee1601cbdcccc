"""Durability: state, features, dead letters and offsets commit together, so killing
`statefold run` with SIGKILL at any instant and running again gives exactly the result of an
uninterrupted run (exactly-once state)."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

import statefold

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STATEFOLD = os.path.join(ROOT, ".venv", "bin", "statefold")
DEFS = os.path.join(ROOT, "examples", "login", "defs.py")
NATIVE_MODULE = os.path.join(ROOT, "build", "examples", "login_native", "liblogin_features.so")


def write_input(path, messages=300000, users=5000, seed=11):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(messages):
            if i % 997 == 0:
                f.write("{this line is not JSON\n")
                continue
            user = f"u{int(users * rng.random() ** 3)}"  # skewed toward low ids
            value = {"user_id": user, "ip_address": f"10.0.{rng.randrange(4)}.{rng.randrange(40)}"}
            if i % 1499 == 0:
                value = {"user_id": user}  # does not decode into LoginEvent
            f.write(json.dumps({"key": user, "value": value, "timestamp": 1767225600000 + i}) + "\n")


def run_args(state_dir, input_path, definitions=DEFS):
    return [STATEFOLD, "run", definitions, "--input", input_path, "--state-dir", state_dir,
            "--batch-size", "128", "--checkpoint-messages", "2000", "--checkpoint-ms", "50"]


def snapshot(state_dir):
    client = statefold.Client(state_dir, follow=False)
    keys = client.state_keys("track_unique_ips", limit=1_000_000)
    # Compared as sets: set iteration order differs between processes (hash randomization).
    states = {k: set(client.state("track_unique_ips", k)["unique_ips"]) for k in keys}
    features = {k: client.get_with_times("user", k) for k in keys}
    return states, features, client.dead_letters(limit=1_000_000)


@pytest.mark.parametrize("definitions", [DEFS, NATIVE_MODULE], ids=["python", "native"])
def test_sigkill_at_random_instants_gives_the_uninterrupted_result(tmp_path, definitions):
    input_path = str(tmp_path / "logins.jsonl")
    write_input(input_path, messages=300000 if definitions == DEFS else 1500000)

    reference_dir = str(tmp_path / "reference")
    subprocess.run(run_args(reference_dir, input_path, definitions), check=True, capture_output=True)
    expected = snapshot(reference_dir)
    assert len(expected[0]) > 1000
    assert len(expected[2]) > 50  # dead letters are part of the committed result too

    crashed_dir = str(tmp_path / "crashed")
    rng = random.Random(5)
    kills = 0
    for attempt in range(30):
        process = subprocess.Popen(run_args(crashed_dir, input_path, definitions),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.0, 0.7))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.communicate()
    assert kills >= 8, "the run finished too fast to be killed mid-stream; enlarge the input"
    final = subprocess.run(run_args(crashed_dir, input_path, definitions), check=True,
                           capture_output=True, text=True)
    assert final.stdout.startswith("done:"), final.stdout + final.stderr

    got = snapshot(crashed_dir)
    assert got[0] == expected[0]
    assert got[1] == expected[1]
    assert got[2] == expected[2]
