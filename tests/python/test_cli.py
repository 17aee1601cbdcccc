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
    reset = statefold_cli("state", "reset", "track_unique_ips", "--yes", "--state-dir", login_state_dir, check=True)
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
    statefold_cli("state", "reset", "track_unique_ips", "--yes", "--state-dir", login_state_dir, check=True)
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


# -- options are range-checked (issue 12, item 6) ---------------------------------------------


def _all_actions(parser):
    """Every option of the command and its subcommands, with the command it belongs to."""
    import argparse
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for command, option in _all_actions(sub):
                    yield f"{name} {command}".strip(), option
        else:
            yield "", action


def test_every_numeric_option_of_the_command_is_range_checked():
    from statefold.cli import parser
    numeric = [(command, action) for command, action in _all_actions(parser())
               if action.type is int or (isinstance(action.default, int)
                                         and not isinstance(action.default, bool))]
    assert len(numeric) >= 9  # run: 5, serve: 2, state list and dead-letters: --limit
    unchecked = [f"{command} {action.option_strings}" for command, action in numeric
                 if not hasattr(action.type, "statefold_range")]
    assert unchecked == []


@pytest.mark.parametrize("args, message", [
    (["run", LOGIN_DEFS, "--batch-size", "0"], "argument --batch-size: must be an integer from 1 to 1048576, got 0"),
    (["run", LOGIN_DEFS, "--batch-size", "-5"], "argument --batch-size: must be an integer from 1 to 1048576, got -5"),
    (["run", LOGIN_DEFS, "--batch-size", "2000000"], "argument --batch-size: must be an integer from 1 to 1048576"),
    (["run", LOGIN_DEFS, "--checkpoint-messages", "-1"], "argument --checkpoint-messages: must be an integer of at least 1, got -1"),
    (["run", LOGIN_DEFS, "--checkpoint-messages", "0"], "argument --checkpoint-messages: must be an integer of at least 1, got 0"),
    (["run", LOGIN_DEFS, "--checkpoint-ms", "-1"], "argument --checkpoint-ms: must be an integer of at least 0, got -1"),
    (["run", LOGIN_DEFS, "--checkpoint-ms", "ten"], "argument --checkpoint-ms: must be an integer of at least 0, got 'ten'"),
    (["run", LOGIN_DEFS, "--serve", "--serve-threads", "0"], "argument --serve-threads: must be an integer from 1 to 256, got 0"),
    (["state", "list", "track_unique_ips", "--limit", "-1"], "argument --limit: must be an integer of at least 0, got -1"),
    (["dead-letters", "--limit", "-1"], "argument --limit: must be an integer of at least 0, got -1"),
    (["serve", "--port", "70000"], "argument --port: must be an integer from 0 to 65535, got 70000"),
    (["serve", "--port", "-1"], "argument --port: must be an integer from 0 to 65535, got -1"),
    (["serve", "--threads", "0"], "argument --threads: must be an integer from 1 to 256, got 0"),
    (["serve", "--token", ""], "argument --token: is empty"),
    (["run", LOGIN_DEFS, "--serve", "--token", ""], "argument --token: is empty"),
])
def test_an_option_out_of_range_is_refused_with_its_range_and_exit_2(tmp_path, statefold_cli, args, message):
    result = statefold_cli(*args, "--state-dir", tmp_path / "state")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state").exists()  # refused before anything ran


def test_an_empty_token_variable_is_refused_not_taken_for_no_token(tmp_path):
    import os
    import subprocess
    from conftest import REPO, STATEFOLD_BIN
    result = subprocess.run([str(STATEFOLD_BIN), "serve", "--port", "0", "--state-dir", str(tmp_path)],
                            cwd=str(REPO), capture_output=True, text=True, timeout=60,
                            env={**os.environ, "STATEFOLD_SERVE_TOKEN": ""})
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "STATEFOLD_SERVE_TOKEN is set but empty" in result.stderr


def test_cli_limit_0_lists_nothing(login_state_dir, statefold_cli):
    result = statefold_cli("dead-letters", "--limit", "0", "--state-dir", login_state_dir, check=True)
    assert result.stdout == ""
    result = statefold_cli("state", "list", "track_unique_ips", "--limit", "0", "--state-dir",
                           login_state_dir, check=True)
    assert result.stdout == ""
    result = statefold_cli("dead-letters", "--limit", "1", "--state-dir", login_state_dir, check=True)
    assert len(result.stdout.splitlines()) == 1


# -- errors in a definitions file (issue 12, item 14) ------------------------------------------


@pytest.mark.parametrize("source, line, error", [
    ("x = 1\ndef broken(:\n    pass\n", 2, "SyntaxError: invalid syntax"),
    ("import json\nimport no_such_module_here\n", 2,
     "ModuleNotFoundError: No module named 'no_such_module_here'"),
    ("from statefold import stream\n\n\nvalue = undefined_name + 1\n", 4,
     "NameError: name 'undefined_name' is not defined"),
])
def test_an_error_in_a_definitions_file_names_its_file_and_line_and_exits_2(
        tmp_path, statefold_cli, source, line, error):
    defs = tmp_path / "broken_defs.py"
    defs.write_text(source)
    input_path = tmp_path / "in.jsonl"
    input_path.write_text("")
    result = statefold_cli("run", defs, "--input", input_path, "--state-dir", tmp_path / "state")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith(f"statefold: {defs}:{line}: {error}"), result.stderr
    assert "Traceback" not in result.stderr
    assert "importlib" not in result.stderr
