"""The state directory's rules through the `statefold` command (docs/operations.md, The state
directory; docs/semantics.md, Durability): a damaged directory is refused by `run` exactly as by
the readers, and left as it was; commands that read a directory never create one; a run whose
directory is deleted under it fails instead of reporting `done`; a full disk stops the run with
exit 2 and a message, loses nothing, and the next run goes on; `state reset` says what it loses
and asks first.
"""

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List

import pytest

from statefold import Client
from statefold.errors import CorruptionError

from conftest import LOGIN_DEFS, STATEFOLD_BIN, REPO

# Every command that reads a state directory, with its arguments.
READERS = [
    ("get", "user", "u1"),
    ("state", "get", "track_unique_ips", "u1"),
    ("state", "list", "track_unique_ips"),
    ("state", "reset", "track_unique_ips", "--yes"),
    ("dead-letters",),
    ("status",),
]


def _login_lines(count: int, users: int, seed: int = 7) -> List[str]:
    rng = random.Random(seed)
    lines = []
    for n in range(count):
        user = f"u{rng.randrange(users)}"
        ip = f"10.{rng.randrange(200)}.{rng.randrange(200)}.{rng.randrange(4)}"
        lines.append(json.dumps({"key": user, "value": {"user_id": user, "ip_address": ip},
                                 "timestamp": 1_700_000_000_000 + n}))
    return lines


def _write_input(path: Path, lines: List[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines) + "{broken\n")
    return path


def _files(directory: Path) -> Dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _state_dir_with_data(tmp_path: Path, statefold_cli) -> Path:
    state_dir = tmp_path / "state"
    events = _write_input(tmp_path / "events.jsonl", _login_lines(200, 20))
    statefold_cli("run", LOGIN_DEFS, "--input", events, "--state-dir", state_dir,
                  "--checkpoint-messages", "50", check=True)
    return state_dir


def _manifest(state_dir: Path) -> Path:
    return state_dir / (state_dir / "CURRENT").read_text().strip()


def _truncate_manifest_until_a_column_family_is_lost(state_dir: Path) -> None:
    """Cuts the MANIFEST back, a byte at a time, until it names only some column families (the
    hostile tester's damage): readers then refuse the directory."""
    manifest = _manifest(state_dir)
    for cut in range(manifest.stat().st_size - 1, 0, -1):
        os.truncate(manifest, cut)
        try:
            Client(str(state_dir), follow=False).status()
        except CorruptionError as e:
            if "names no column family" in str(e):
                return
    pytest.fail("no cut of the MANIFEST lost a column family")


DAMAGE = {
    "truncated-manifest": (_truncate_manifest_until_a_column_family_is_lost,
                           "its MANIFEST names no column family"),
    "deleted-current": (lambda d: (d / "CURRENT").unlink(), "its CURRENT file is missing"),
    "deleted-manifest": (lambda d: _manifest(d).unlink(), "the MANIFEST it names does not read"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_state_directory_is_refused_not_recreated(tmp_path, statefold_cli, damage):
    state_dir = _state_dir_with_data(tmp_path, statefold_cli)
    damage_it, reason = DAMAGE[damage]
    damage_it(state_dir)
    before = _files(state_dir)
    more = _write_input(tmp_path / "more.jsonl", _login_lines(10, 5, seed=8))
    for args in [("run", LOGIN_DEFS, "--input", more)] + READERS:
        result = statefold_cli(*args, "--state-dir", state_dir)
        assert result.returncode == 2, (args, result.returncode, result.stdout, result.stderr)
        assert result.stdout == "", (args, result.stdout)
        assert result.stderr.startswith("statefold: the state directory is damaged: "), (args, result.stderr)
        assert reason in result.stderr, (args, result.stderr)
        assert "restore it from a backup, or remove it to start over" in result.stderr
        assert _files(state_dir) == before, f"{args} changed the damaged directory"


def test_commands_that_read_a_state_directory_never_create_one(tmp_path, statefold_cli):
    typo = tmp_path / "typo"
    for args in READERS:
        result = statefold_cli(*args, "--state-dir", typo)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert f"no statefold state in {typo}" in result.stderr, (args, result.stderr)
        assert not typo.exists(), args


def test_a_run_whose_input_is_missing_leaves_no_state_directory(tmp_path, statefold_cli):
    state_dir = tmp_path / "state"
    result = statefold_cli("run", LOGIN_DEFS, "--input", tmp_path / "missing.jsonl", "--state-dir", state_dir)
    assert result.returncode == 1, (result.stdout, result.stderr)  # NotFound, as for every command
    assert "cannot open input file" in result.stderr and "missing.jsonl" in result.stderr
    assert not state_dir.exists()


def test_state_reset_of_an_unknown_resolver_is_an_error(tmp_path, statefold_cli):
    state_dir = _state_dir_with_data(tmp_path, statefold_cli)
    result = statefold_cli("state", "reset", "track_unique_ip", "--yes", "--state-dir", state_dir)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert ("resolver track_unique_ip has no stored state in "
            f"{state_dir} (resolvers with stored state: track_unique_ips)") in result.stderr
    assert result.stdout == ""


def _reset(state_dir: Path, *args: str, answer: str = None) -> subprocess.CompletedProcess:
    """`statefold state reset track_unique_ips ARGS` with stdin from /dev/null, or, with an
    `answer`, from a terminal (a pseudo-terminal) that types it."""
    command = [str(STATEFOLD_BIN), "state", "reset", "track_unique_ips", "--state-dir", str(state_dir), *args]
    if answer is None:
        return subprocess.run(command, cwd=str(REPO), capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    controller, terminal = os.openpty()
    try:
        os.write(controller, answer.encode() + b"\n")
        return subprocess.run(command, cwd=str(REPO), capture_output=True, text=True, timeout=60,
                              stdin=terminal)
    finally:
        os.close(terminal)
        os.close(controller)


def test_state_reset_says_the_history_is_lost_and_asks_first(tmp_path, statefold_cli):
    state_dir = _state_dir_with_data(tmp_path, statefold_cli)
    keys = statefold_cli("state", "list", "track_unique_ips", "--state-dir", state_dir, check=True).stdout.split()
    assert len(keys) == 20
    for refused in (_reset(state_dir), _reset(state_dir, answer="n"), _reset(state_dir, answer="")):
        assert refused.returncode == 1, (refused.stdout, refused.stderr)
        assert "deletes the stored state of its 20 keys" in refused.stderr
        assert "the history before the current input position is lost for good" in refused.stderr
        assert "statefold: nothing was reset" in refused.stderr
        listed = statefold_cli("state", "list", "track_unique_ips", "--state-dir", state_dir, check=True)
        assert listed.stdout.split() == keys
    assert "confirm with --yes" in _reset(state_dir).stderr
    confirmed = _reset(state_dir, answer="y")
    assert confirmed.returncode == 0, (confirmed.stdout, confirmed.stderr)
    assert confirmed.stdout.strip() == "reset the state of track_unique_ips (20 keys)"
    assert statefold_cli("state", "list", "track_unique_ips", "--state-dir", state_dir, check=True).stdout == ""
    # Once reset, the resolver has no stored state: a second reset is an error.
    assert _reset(state_dir, "--yes").returncode == 1


DELETING_DEFS = '''
import os
import shutil

from chalk import State
from chalk.features import Features, features
from chalk.streams import KafkaSource, stream
from pydantic import BaseModel

source = KafkaSource(name="events")


class Event(BaseModel):
    n: int


@features
class Counter:
    id: str
    count: int


class Count(BaseModel):
    count: int = 0


@stream(source=source)
def count(event: Event, state: State[Count]) -> Features[Counter.id, Counter.count]:
    # Message 150 deletes the state directory under the running engine.
    if event.n == 150:
        shutil.rmtree(os.environ["DELETE_STATE_DIR"])
    state.count += 1
    return Counter(id="c", count=state.count)
'''


def test_a_run_whose_state_directory_is_deleted_fails_instead_of_reporting_done(tmp_path):
    defs = tmp_path / "deleting_defs.py"
    defs.write_text(textwrap.dedent(DELETING_DEFS))
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps({"key": "c", "value": {"n": n}}) + "\n" for n in range(300)))
    state_dir = tmp_path / "state"
    result = subprocess.run(
        [str(STATEFOLD_BIN), "run", str(defs), "--input", str(events), "--state-dir", str(state_dir),
         "--checkpoint-messages", "100", "--batch-size", "10"],
        cwd=str(REPO), capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env={**os.environ, "DELETE_STATE_DIR": str(state_dir)})
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "done:" not in result.stdout
    assert f"the state directory {state_dir} was deleted or replaced while this run was writing to it" in result.stderr
    assert not state_dir.exists()


def _mount_tmpfs(directory: Path, size: str) -> None:
    directory.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"this test fills a small tmpfs and needs root to mount one: {mounted.stderr.strip()}")


def test_a_full_disk_stops_the_run_with_exit_2_and_loses_nothing(tmp_path, statefold_cli):
    events = _write_input(tmp_path / "events.jsonl", _login_lines(250_000, 4_000))
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "6m")
    try:
        state_dir = disk / "state"
        run = ("run", LOGIN_DEFS, "--input", events, "--state-dir", state_dir, "--checkpoint-messages", "20000")
        full = statefold_cli(*run)
        assert full.returncode == 2, (full.returncode, full.stdout, full.stderr[-2000:])
        assert full.stderr.startswith(f"statefold: the state directory is full ({state_dir}: "), full.stderr[-2000:]
        assert full.stderr.rstrip().endswith("); free space and run again"), full.stderr[-2000:]
        assert "done:" not in full.stdout
        subprocess.run(["mount", "-o", "remount,size=256m", str(disk)], check=True)
        statefold_cli(*run, check=True)
        # The same as one run on a disk with room.
        statefold_cli("run", LOGIN_DEFS, "--input", events, "--state-dir", tmp_path / "roomy", check=True)
        resumed = Client(str(state_dir), follow=False)
        whole = Client(str(tmp_path / "roomy"), follow=False)
        try:
            keys = whole.state_keys("track_unique_ips", 10_000)
            assert len(keys) == 4_000
            assert resumed.state_keys("track_unique_ips", 10_000) == keys
            for key in keys:
                assert (set(resumed.state("track_unique_ips", key)["unique_ips"])
                        == set(whole.state("track_unique_ips", key)["unique_ips"])), key
                assert resumed.get_with_times("user", key) == whole.get_with_times("user", key), key
            assert len(resumed.dead_letters(10)) == len(whole.dead_letters(10)) == 1
        finally:
            resumed.close()
            whole.close()
    finally:
        subprocess.run(["umount", str(disk)], check=True)
