"""docs/semantics.md, Durability: runs over a growing file (CLI and StreamTester) give the
result of one run over the whole file, and a half-written last line waits for the next run.
The CLI rules call `.venv/bin/statefold` (conftest.py's statefold_cli).
"""

import json
import random
from typing import List

from statefold import Client
from statefold.runtime import load_definitions

from conftest import LOGIN_DEFS


def _login_lines(count: int, users: int, seed: int) -> List[str]:
    rng = random.Random(seed)
    lines = []
    for n in range(count):
        user = f"u{rng.randrange(users)}"
        ip = f"10.0.{rng.randrange(3)}.{rng.randrange(4)}"
        lines.append(json.dumps({"key": user, "value": {"user_id": user, "ip_address": ip},
                                 "timestamp": 1_700_000_000_000 + n}))
    return lines


def _summary_messages(stdout: str) -> int:
    lines = stdout.strip().splitlines()
    assert len(lines) == 1, stdout
    match = __import__("re").match(r"done: ([\d,]+) messages, ", lines[0])
    assert match, lines[0]
    return int(match.group(1).replace(",", ""))


def test_durability_across_cli_runs(tmp_path, statefold_cli):
    lines = _login_lines(60, users=7, seed=5)
    users = sorted({json.loads(line)["key"] for line in lines})
    growing = tmp_path / "growing.jsonl"
    whole = tmp_path / "whole.jsonl"
    whole.write_text("".join(line + "\n" for line in lines))

    growing.write_text("".join(line + "\n" for line in lines[:23]))
    first = statefold_cli("run", LOGIN_DEFS, "--input", growing, "--state-dir", tmp_path / "two-runs", check=True)
    assert _summary_messages(first.stdout) == 23
    with growing.open("a") as f:
        f.write("".join(line + "\n" for line in lines[23:]))
    second = statefold_cli("run", LOGIN_DEFS, "--input", growing, "--state-dir", tmp_path / "two-runs", check=True)
    assert _summary_messages(second.stdout) == 37
    third = statefold_cli("run", LOGIN_DEFS, "--input", growing, "--state-dir", tmp_path / "two-runs", check=True)
    assert _summary_messages(third.stdout) == 0

    once = statefold_cli("run", LOGIN_DEFS, "--input", whole, "--state-dir", tmp_path / "one-run", check=True)
    assert _summary_messages(once.stdout) == 60

    two_runs, one_run = Client(str(tmp_path / "two-runs")), Client(str(tmp_path / "one-run"))
    for user in users:
        assert two_runs.get_with_times("user", user) == one_run.get_with_times("user", user), user
        a, b = two_runs.state("track_unique_ips", user), one_run.state("track_unique_ips", user)
        assert sorted(a["unique_ips"]) == sorted(b["unique_ips"]), user
        expected_ips = {json.loads(line)["value"]["ip_address"] for line in lines
                        if json.loads(line)["key"] == user}
        assert sorted(a["unique_ips"]) == sorted(expected_ips), user
        assert two_runs.get("user", user)["user.unique_ip_count"] == len(expected_ips)
    assert sorted(two_runs.state_keys("track_unique_ips")) == users
    assert two_runs.dead_letters() == [] == one_run.dead_letters()


def test_durability_partially_written_last_line_is_not_lost(tmp_path, statefold_cli):
    """A run that sees the file while a producer is in the middle of appending a line must
    not consume (and lose) that half line: the next run over the completed file gives the
    result of one run over the whole file."""
    lines = _login_lines(12, users=3, seed=2)
    growing = tmp_path / "growing.jsonl"
    cut = len(lines[8]) // 2
    growing.write_text("".join(line + "\n" for line in lines[:8]) + lines[8][:cut])
    statefold_cli("run", LOGIN_DEFS, "--input", growing, "--state-dir", tmp_path / "two-runs", check=True)
    with growing.open("a") as f:
        f.write(lines[8][cut:] + "\n" + "".join(line + "\n" for line in lines[9:]))
    statefold_cli("run", LOGIN_DEFS, "--input", growing, "--state-dir", tmp_path / "two-runs", check=True)
    whole = tmp_path / "whole.jsonl"
    whole.write_text("".join(line + "\n" for line in lines))
    statefold_cli("run", LOGIN_DEFS, "--input", whole, "--state-dir", tmp_path / "one-run", check=True)

    two_runs, one_run = Client(str(tmp_path / "two-runs")), Client(str(tmp_path / "one-run"))
    assert two_runs.dead_letters() == []
    for user in sorted({json.loads(line)["key"] for line in lines}):
        assert sorted(two_runs.state("track_unique_ips", user)["unique_ips"]) == \
            sorted(one_run.state("track_unique_ips", user)["unique_ips"]), user
        assert two_runs.get_with_times("user", user) == one_run.get_with_times("user", user), user


def test_durability_across_tester_runs_equals_one_run(make_tester):
    (resolver,) = load_definitions(str(LOGIN_DEFS))
    records = [json.loads(line) for line in _login_lines(80, users=6, seed=9)]
    split = make_tester(resolver, batch_size=5)
    for chunk in (records[:10], records[10:11], records[11:47], records[47:]):
        split.send_many(chunk)
    once = make_tester(resolver)
    once.send_many(records)
    for user in sorted({r["key"] for r in records}):
        assert split.state(resolver, user).unique_ips == once.state(resolver, user).unique_ips
        assert split.client.get_with_times("user", user) == once.client.get_with_times("user", user)

