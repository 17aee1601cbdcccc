"""The Redis online store (`statefold run --online-store redis://...`) against a real
redis-server of each test's own (redis_server.py: free 127.0.0.1 port, fsync-always
append-only file, stopped by PID): the same values as the embedded store, nothing lost when
Redis or the engine is killed, no checkpoint claiming values Redis did not acknowledge, and
a replay never moving a value backwards."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import statefold
from statefold.errors import NotFoundError

from redis_server import RedisServer, free_port
from test_crash_safety import write_input

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STATEFOLD = os.path.join(ROOT, ".venv", "bin", "statefold")
DEFS = os.path.join(ROOT, "examples", "login", "defs.py")
GENERATE = os.path.join(ROOT, "bench", "generate_events.py")


def generate(path, messages, keys, seed=3):
    subprocess.run([sys.executable, GENERATE, "--messages", str(messages), "--keys", str(keys),
                    "--seed", str(seed), "--out", str(path)], check=True)


def run_command(state_dir, events, *extra):
    return [STATEFOLD, "run", DEFS, "--input", str(events), "--state-dir", str(state_dir),
            *[str(e) for e in extra]]


def run_to_end(command, env=None):
    process = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert process.returncode == 0, process.stdout + process.stderr
    assert process.stdout.startswith("done: "), process.stdout + process.stderr
    return process.stdout


def embedded_features(state_dir):
    """The embedded store's values, shaped like RedisServer.dump():
    {entity id: {feature: (value, time_ms, offset)}}."""
    client = statefold.Client(str(state_dir), follow=False)
    result = {}
    for key in client.state_keys("track_unique_ips", limit=1_000_000):
        result[key] = {name.split(".", 1)[1]: (v["value"], v["time_ms"], v["offset"])
                       for name, v in client.get_with_times("user", key).items()}
    return result


def embedded_result(state_dir, events):
    run_to_end(run_command(state_dir, events))
    return embedded_features(state_dir)


def committed_offset(state_dir):
    """The next offset of the last committed checkpoint (0 before the first)."""
    try:
        status = statefold.Client(str(state_dir), follow=False).status()
    except NotFoundError:
        return 0
    return status["sources"]["..."]["partitions"]["0"]["next_offset"]


def checkpointed_or_ended(state_dir, process):
    """Whether the run has committed a checkpoint (or ended); the state directory may still be
    being created."""
    try:
        return committed_offset(state_dir) > 0 or process.poll() is not None
    except statefold.StatefoldError:
        return False


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_reference_example_with_redis_equals_the_embedded_store(redis_server, tmp_path):
    events = tmp_path / "logins.jsonl"
    generate(events, 50000, 5000)
    expected = embedded_result(tmp_path / "embedded", events)
    assert len(expected) > 3000
    run_to_end(run_command(tmp_path / "redis-run", events, "--online-store", redis_server.url(),
                           "--checkpoint-messages", 5000))
    assert redis_server.dump() == expected  # values, feature times and offsets


def test_online_store_comes_from_the_flag_else_the_environment(redis_server, tmp_path):
    events = tmp_path / "logins.jsonl"
    generate(events, 5000, 300)
    expected = embedded_result(tmp_path / "embedded", events)
    env = dict(os.environ, STATEFOLD_ONLINE_STORE=redis_server.url(3))
    run_to_end(run_command(tmp_path / "from-env", events), env=env)
    assert redis_server.dump(3) == expected
    env = dict(os.environ, STATEFOLD_ONLINE_STORE="memcached://nowhere")
    run_to_end(run_command(tmp_path / "from-flag", events, "--online-store", redis_server.url(4)), env=env)
    assert redis_server.dump(4) == expected

    for url, reason in [("memcached://h", "neither 'embedded' nor a redis:// URL"),
                        ("redis://h:port", "the port 'port' is not a number"),
                        ("redis://secret@h", "needs a :password")]:
        bad = subprocess.run(run_command(tmp_path / "bad", events, "--online-store", url),
                             capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2, bad.stdout + bad.stderr
        assert reason in bad.stderr, bad.stderr
        assert "secret" not in bad.stderr


def test_cli_get_and_client_read_features_from_redis(redis_server, tmp_path):
    events = tmp_path / "logins.jsonl"
    generate(events, 5000, 300)
    embedded_dir, redis_dir = tmp_path / "embedded", tmp_path / "redis-run"
    run_to_end(run_command(embedded_dir, events))
    url = redis_server.url()
    run_to_end(run_command(redis_dir, events, "--online-store", url))

    def get(*args, env=None):
        return subprocess.run([STATEFOLD, "get", *args], capture_output=True, text=True, timeout=120,
                              env=env)

    for times in (["--times"], []):
        want = get("user", "u0", "--state-dir", str(embedded_dir), *times)
        got = get("user", "u0", "--online-store", url, *times)
        assert want.returncode == got.returncode == 0, want.stderr + got.stderr
        assert json.loads(got.stdout) == json.loads(want.stdout)
        assert "user.unique_ip_count" in json.loads(got.stdout)
    # $STATEFOLD_ONLINE_STORE, and the flag winning over it.
    from_env = get("user", "u0", env=dict(os.environ, STATEFOLD_ONLINE_STORE=url))
    assert from_env.returncode == 0 and from_env.stdout == got.stdout, from_env.stderr
    dead_end = f"redis://127.0.0.1:{free_port()}"
    flag_wins = get("user", "u0", "--online-store", url, env=dict(os.environ, STATEFOLD_ONLINE_STORE=dead_end))
    assert flag_wins.returncode == 0 and flag_wins.stdout == got.stdout, flag_wins.stderr
    unknown = get("user", "nobody", "--online-store", url)
    assert unknown.returncode == 1 and "no features for user nobody" in unknown.stderr
    unreachable = get("user", "u0", "--online-store", dead_end)
    assert unreachable.returncode == 2 and "Connection refused" in unreachable.stderr, unreachable.stderr
    # The values went to Redis only, not into the state directory's own store.
    assert get("user", "u0", "--state-dir", str(redis_dir)).returncode == 1

    embedded = statefold.Client(str(embedded_dir))
    client = statefold.Client(state_dir=str(redis_dir), online_store=url)
    assert client.get("user", "u5") == embedded.get("user", "u5")
    assert client.get_with_times("user", "u5") == embedded.get_with_times("user", "u5")
    assert client.status()["run"]["messages"] == 5000  # other reads still use the state directory


def test_a_replay_never_moves_a_redis_value_backwards(redis_server, tmp_path):
    events = tmp_path / "logins.jsonl"
    generate(events, 20000, 2000)
    run_to_end(run_command(tmp_path / "first", events, "--online-store", redis_server.url()))
    before = redis_server.dump()
    expected = json.loads(json.dumps(before))  # a deep copy (tuples become lists, as compared below)
    (_, t1, o1), (_, t2, o2), (_, t3, o3) = (before[u]["unique_ip_count"] for u in ("u1", "u2", "u3"))
    with redis_server.client() as client:
        # u1: a newer feature time; u2: the same time, a later offset. Both must survive.
        client.command("HSET", "statefold:user:u1", "unique_ip_count", f"{t1 + 1}:0:999")
        client.command("HSET", "statefold:user:u2", "unique_ip_count", f"{t2}:{o2 + 1}:998")
        # u3: an older time at a later offset: time comes first, so the replay replaces it.
        client.command("HSET", "statefold:user:u3", "unique_ip_count", f"{t3 - 1}:{o3 + 5}:997")
    expected["u1"]["unique_ip_count"] = [999, t1 + 1, 0]
    expected["u2"]["unique_ip_count"] = [998, t2, o2 + 1]

    # A new state directory replays the whole input over the same Redis.
    run_to_end(run_command(tmp_path / "replay", events, "--online-store", redis_server.url()))
    assert json.loads(json.dumps(redis_server.dump())) == expected


def test_redis_killed_and_restarted_mid_run_loses_nothing(redis_server, tmp_path):
    events = tmp_path / "logins.jsonl"
    total = 400_000
    generate(events, total, 20000, seed=21)
    expected = embedded_result(tmp_path / "embedded", events)
    state_dir = tmp_path / "state"
    err_path = tmp_path / "run.err"
    with open(err_path, "w") as err:
        process = subprocess.Popen(
            run_command(state_dir, events, "--online-store", redis_server.url(), "--checkpoint-messages", 2000),
            stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        wait_for(lambda: checkpointed_or_ended(state_dir, process), 120, "a checkpoint")
        assert process.poll() is None, "the run ended before Redis could be killed; enlarge the input"
        redis_server.kill()
        wait_for(lambda: "(retrying)" in err_path.read_text(), 60, "the outage report")
        committed = committed_offset(state_dir)
        time.sleep(1.5)
        assert process.poll() is None, err_path.read_text()  # waiting, not failed
        assert committed_offset(state_dir) == committed, "a checkpoint committed while Redis was down"
        assert 0 < committed < total

        # What Redis acknowledged (its append-only file, fsynced per write, in a copy served on
        # another port) holds every value the committed checkpoints claim, or a newer one.
        shutil.copytree(redis_server.directory, tmp_path / "acknowledged")
        acknowledged_server = RedisServer(tmp_path / "acknowledged")
        acknowledged_server.start()
        try:
            acknowledged = acknowledged_server.dump()
        finally:
            acknowledged_server.stop()
        prefix = tmp_path / "committed.jsonl"
        with open(events) as f, open(prefix, "w") as out:
            for _ in range(committed):
                out.write(f.readline())
        claimed = embedded_result(tmp_path / "committed-state", prefix)
        assert claimed
        for user, values in claimed.items():
            for name, value in values.items():
                held = acknowledged.get(user, {}).get(name)
                assert held == value or (held is not None and held[2] > value[2]), (user, name, held, value)

        redis_server.start()
        out, _ = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    err = err_path.read_text()
    assert process.returncode == 0, err
    assert out.startswith(f"done: {total:,} messages"), out + err
    assert err.count("(retrying)") == 1 and "is back after" in err, err
    assert redis_server.dump() == expected


def test_sigterm_during_a_redis_outage_ends_the_run_without_a_checkpoint(redis_server, tmp_path):
    events = tmp_path / "logins.jsonl"
    total = 400_000
    generate(events, total, 20000, seed=22)
    expected = embedded_result(tmp_path / "embedded", events)
    state_dir = tmp_path / "state"
    command = run_command(state_dir, events, "--online-store", redis_server.url(), "--checkpoint-messages", 2000)
    err_path = tmp_path / "run.err"
    with open(err_path, "w") as err:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        wait_for(lambda: checkpointed_or_ended(state_dir, process), 120, "a checkpoint")
        assert process.poll() is None, "the run ended before Redis could be killed; enlarge the input"
        redis_server.kill()
        wait_for(lambda: "(retrying)" in err_path.read_text(), 60, "the outage report")
        committed = committed_offset(state_dir)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    err = err_path.read_text()
    assert process.returncode == 2, out + err
    assert "stopped while the Redis online store was unreachable" in err, err
    assert "the last checkpoint was not committed; the next run redoes it" in err, err
    assert not out.startswith("stopped:"), out
    assert committed_offset(state_dir) == committed

    redis_server.start()
    out = run_to_end(command)
    assert out.startswith(f"done: {total - committed:,} messages"), out
    assert redis_server.dump() == expected


def test_engine_sigkilled_at_random_instants_with_redis_gives_the_uninterrupted_result(redis_server, tmp_path):
    events = str(tmp_path / "logins.jsonl")
    write_input(events)  # test_crash_safety's input: skewed keys, bad lines, invalid events
    small_checkpoints = ["--batch-size", 128, "--checkpoint-messages", 2000, "--checkpoint-ms", 50]
    run_to_end(run_command(tmp_path / "reference", events, "--online-store", redis_server.url(1),
                           *small_checkpoints))
    expected = redis_server.dump(1)
    assert len(expected) > 1000

    command = run_command(tmp_path / "crashed", events, "--online-store", redis_server.url(2), *small_checkpoints)
    rng = random.Random(8)
    kills = 0
    for _ in range(25):
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.0, 0.8))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.communicate()
    assert kills >= 8, "the run finished too fast to be killed mid-stream; enlarge the input"
    run_to_end(command)
    assert redis_server.dump(2) == expected
