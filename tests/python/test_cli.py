"""The `statefold` command over a state directory (docs/semantics.md, Outputs, and the README's
Running and querying): get, state get/list/reset, dead-letters and status, through
`.venv/bin/statefold` (conftest.py's statefold_cli).
"""

import json

import pytest

from conftest import LOGIN_DEFS
from semantics_defs import login


@pytest.fixture
def login_state_dir(tmp_path, statefold_cli):
    """examples/login/defs.py run over a small input with one bad line."""
    lines = [
        json.dumps(login("u1", "10.0.0.1", timestamp=1_000)),
        json.dumps(login("u2", "10.0.0.1", timestamp=2_000)),
        json.dumps(login("u1", "10.0.0.2", timestamp=3_000)),
        '{"key": "u1", "value": {"user_id": "u1"}}',
        json.dumps(login("u1", "10.0.0.1", timestamp=4_000)),
        json.dumps(login("u1", "10.0.0.3", timestamp=5_000)),
    ]
    path = tmp_path / "logins.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    state_dir = tmp_path / "state"
    result = statefold_cli("run", LOGIN_DEFS, "--input", path, "--state-dir", state_dir, check=True)
    assert result.stdout.startswith("done: 6 messages, 2 keys, 5 outputs, 1 dead letters in "), result.stdout
    return state_dir


def test_cli_get_prints_feature_json(login_state_dir, statefold_cli):
    result = statefold_cli("get", "user", "u1", "--state-dir", login_state_dir, check=True)
    assert json.loads(result.stdout) == {"user.id": "u1", "user.unique_ip_count": 3}
    result = statefold_cli("get", "user", "u2", "--state-dir", login_state_dir, check=True)
    assert json.loads(result.stdout) == {"user.id": "u2", "user.unique_ip_count": 1}
    result = statefold_cli("get", "user", "u1", "--times", "--state-dir", login_state_dir, check=True)
    assert json.loads(result.stdout) == {
        "user.id": {"value": "u1", "time_ms": 5_000, "offset": 5},
        "user.unique_ip_count": {"value": 3, "time_ms": 5_000, "offset": 5},
    }


@pytest.mark.parametrize("args", [("user", "nobody"), ("account", "u1")], ids=["unknown-id", "unknown-namespace"])
def test_cli_get_unknown_entity_exits_1(login_state_dir, statefold_cli, args):
    result = statefold_cli("get", *args, "--state-dir", login_state_dir)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("statefold: ")
    assert args[1] in result.stderr


def test_cli_state_get(login_state_dir, statefold_cli):
    result = statefold_cli("state", "get", "track_unique_ips", "u1", "--state-dir", login_state_dir, check=True)
    state = json.loads(result.stdout)
    assert list(state) == ["unique_ips"]
    assert sorted(state["unique_ips"]) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    missing = statefold_cli("state", "get", "track_unique_ips", "nobody", "--state-dir", login_state_dir)
    assert missing.returncode == 1
    assert "nobody" in missing.stderr


def test_cli_state_list_and_reset(login_state_dir, statefold_cli):
    listed = statefold_cli("state", "list", "track_unique_ips", "--state-dir", login_state_dir, check=True)
    assert sorted(listed.stdout.split()) == ["u1", "u2"]
    reset = statefold_cli("state", "reset", "track_unique_ips", "--state-dir", login_state_dir, check=True)
    assert "track_unique_ips" in reset.stdout
    listed = statefold_cli("state", "list", "track_unique_ips", "--state-dir", login_state_dir, check=True)
    assert listed.stdout == ""
    gone = statefold_cli("state", "get", "track_unique_ips", "u1", "--state-dir", login_state_dir)
    assert gone.returncode == 1


def test_cli_dead_letters_prints_json_lines(login_state_dir, statefold_cli):
    result = statefold_cli("dead-letters", "--state-dir", login_state_dir, check=True)
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["offset"] == 3
    assert record["resolver"] == "track_unique_ips"
    assert record["key"] == "u1"
    assert record["source"] == "..."
    assert "ip_address" in record["error"]
    assert json.loads(record["payload"]) == {"user_id": "u1"}
    assert result.stderr == ""  # every letter listed


def test_cli_dead_letters_cut_at_the_limit_say_how_many_more_exist(tmp_path, statefold_cli):
    path = tmp_path / "logins.jsonl"
    path.write_text("".join(f"not json {n}\n" for n in range(5)))
    state_dir = tmp_path / "state"
    statefold_cli("run", LOGIN_DEFS, "--input", path, "--state-dir", state_dir, check=True)
    result = statefold_cli("dead-letters", "--limit", "2", "--state-dir", state_dir, check=True)
    assert [json.loads(line)["offset"] for line in result.stdout.splitlines()] == [0, 1]
    assert result.stderr == "… and 3 more (--limit 2)\n"
    whole = statefold_cli("dead-letters", "--limit", "5", "--state-dir", state_dir, check=True)
    assert len(whole.stdout.splitlines()) == 5 and whole.stderr == ""


def test_cli_run_after_reset_starts_from_initial_state(tmp_path, login_state_dir, statefold_cli):
    statefold_cli("state", "reset", "track_unique_ips", "--state-dir", login_state_dir, check=True)
    path = tmp_path / "logins.jsonl"  # the fixture's input; the source resumes after its end
    with path.open("a") as f:
        f.write(json.dumps(login("u1", "10.9.9.9", timestamp=9_000)) + "\n")
    result = statefold_cli("run", LOGIN_DEFS, "--input", path, "--state-dir", login_state_dir, check=True)
    assert result.stdout.startswith("done: 1 messages, 1 keys, 1 outputs, 0 dead letters in "), result.stdout
    state = json.loads(statefold_cli("state", "get", "track_unique_ips", "u1", "--state-dir", login_state_dir,
                                     check=True).stdout)
    assert state == {"unique_ips": ["10.9.9.9"]}



def test_cli_status_reports_the_last_checkpoint(tmp_path, statefold_cli):
    events = tmp_path / "events.jsonl"
    events.write_text("".join(
        json.dumps({"key": f"u{i % 4}", "value": {"user_id": f"u{i % 4}", "ip_address": f"10.0.0.{i}"},
                    "timestamp": i}) + "\n" for i in range(40)
    ) + "{broken\n")
    statefold_cli("run", LOGIN_DEFS, "--input", events, "--state-dir", tmp_path / "s", check=True)
    status = json.loads(statefold_cli("status", "--json", "--state-dir", tmp_path / "s", check=True).stdout)
    assert status["run"]["messages"] == 41
    assert status["run"]["outputs"] == 40
    assert status["run"]["dead_letters"] == 1
    assert status["sources"]["..."]["partitions"]["0"]["next_offset"] == 41
    assert status["resolvers"]["track_unique_ips"]["keys"] == 4
    text = statefold_cli("status", "--state-dir", tmp_path / "s", check=True).stdout
    assert "41 messages" in text and "track_unique_ips: 4 keys" in text
