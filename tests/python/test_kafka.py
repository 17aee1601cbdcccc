"""KafkaSource against a real Apache Kafka broker (KRaft, single node on 127.0.0.1, started by
scripts/kafka-local for this module and stopped by PID at its end)."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

import statefold
from statefold.config import env_prefix

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STATEFOLD = os.path.join(ROOT, ".venv", "bin", "statefold")
KAFKA_LOCAL = os.path.join(ROOT, "scripts", "kafka-local")
DEFS = os.path.join(ROOT, "examples", "login", "defs.py")
GENERATE = os.path.join(ROOT, "bench", "generate_events.py")


class Broker:
    def __init__(self, address, env):
        self.address = address
        self.env = env

    def produce(self, topic, path):
        result = subprocess.run([KAFKA_LOCAL, "produce", topic, str(path)], env=self.env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        return int(result.stdout.strip())


def broker_log_tail(broker_dir, lines=40):
    """The end of the broker's own log, or why there is none."""
    try:
        with open(os.path.join(broker_dir, "broker.log"), errors="replace") as log:
            return "".join(log.readlines()[-lines:])
    except OSError as e:
        return f"(no broker log: {e})"


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    broker_dir = str(tmp_path_factory.mktemp("kafka") / "broker")
    env = dict(os.environ, KAFKA_LOCAL_DIR=broker_dir)
    try:
        started = subprocess.run([KAFKA_LOCAL, "start"], env=env, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        tail = broker_log_tail(broker_dir)  # before stop deletes it
        subprocess.run([KAFKA_LOCAL, "stop"], env=env, capture_output=True, timeout=120)
        pytest.fail("scripts/kafka-local start did not finish within 600 s; the end of the broker's log:\n"
                    + tail, pytrace=False)
    if started.returncode != 0:
        # The script's stderr names the cause and ends with the broker's log (whole: the
        # cause is its first line).
        pytest.fail(f"scripts/kafka-local start failed (exit {started.returncode}):\n{started.stderr}"
                    f"{started.stdout}", pytrace=False)
    try:
        yield Broker(started.stdout.strip(), env)
    finally:
        subprocess.run([KAFKA_LOCAL, "stop"], env=env, capture_output=True, timeout=120)


def engine_env(broker, tmp_path, topic, **kafka_args):
    """The example's KafkaSource(name="...") configured as a user would: the bootstrap server
    from the environment, the topic and librdkafka settings from statefold.toml."""
    config = tmp_path / "statefold.toml"
    # A short session, so a consumer restarted after kill -9 is not kept waiting long.
    args = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000", **kafka_args}
    config.write_text(
        f'[kafka."..."]\ntopic = "{topic}"\ngroup_id_prefix = "test-{topic}"\n'
        '[kafka."...".additional_kafka_args]\n' + "".join(f'"{k}" = "{v}"\n' for k, v in args.items())
    )
    env = dict(os.environ, STATEFOLD_CONFIG=str(config))
    env[env_prefix("...") + "BOOTSTRAP_SERVER"] = broker.address
    return env


def generate(path, messages, keys, seed=3):
    subprocess.run([sys.executable, GENERATE, "--messages", str(messages), "--keys", str(keys),
                    "--seed", str(seed), "--out", str(path)], check=True)


def features(state_dir):
    client = statefold.Client(str(state_dir), follow=False)
    keys = client.state_keys("track_unique_ips", limit=1_000_000)
    result = {}
    for key in keys:
        values = client.get_with_times("user", key)
        # Offsets differ between a file (line numbers) and a topic (partition offsets).
        result[key] = {name: (v["value"], v["time_ms"]) for name, v in values.items()}
    return result


def run_to_end(env, state_dir, defs=DEFS):
    """`statefold run DEFS --stop-at-end`; fails the test unless it exits 0. Returns stdout."""
    run = subprocess.run([STATEFOLD, "run", str(defs), "--stop-at-end", "--state-dir", str(state_dir)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def file_mode_result(tmp_path, events):
    reference = tmp_path / "file-state"
    subprocess.run([STATEFOLD, "run", DEFS, "--input", str(events), "--state-dir", str(reference)],
                   check=True, capture_output=True)
    return features(reference)


def test_reference_example_over_a_topic_equals_the_file_run(broker, tmp_path):
    events = tmp_path / "logins.jsonl"
    generate(events, 20000, 2000)
    assert broker.produce("logins-equal", events) == 20000
    env = engine_env(broker, tmp_path, "logins-equal")
    state_dir = tmp_path / "kafka-state"
    assert run_to_end(env, state_dir).startswith("done: 20,000 messages")
    expected = file_mode_result(tmp_path, events)
    assert len(expected) > 1000
    assert features(state_dir) == expected

    status = json.loads(subprocess.run([STATEFOLD, "status", "--json", "--state-dir", str(state_dir)],
                                       capture_output=True, text=True, check=True).stdout)
    assert status["run"]["messages"] == 20000
    partitions = status["sources"]["..."]["partitions"]
    assert sorted(partitions) == ["0", "1", "2", "3"]
    assert sum(p["next_offset"] for p in partitions.values()) == 20000
    assert all(p["lag"] == 0 for p in partitions.values()), partitions

    # The checkpointed positions were committed to Kafka too, so lag tools see the truth.
    described = subprocess.run([KAFKA_LOCAL, "offsets", "test-logins-equal.track_unique_ips"],
                               env=broker.env, capture_output=True, text=True, timeout=120).stdout
    rows = [line.split() for line in described.splitlines() if " logins-equal " in f" {line} "]
    assert len(rows) == 4, described
    header = next(line.split() for line in described.splitlines() if "CURRENT-OFFSET" in line)
    current, lag = header.index("CURRENT-OFFSET"), header.index("LAG")
    assert sum(int(row[current]) for row in rows) == 20000, described
    assert all(row[lag] == "0" for row in rows), described

    assert run_to_end(env, state_dir).startswith("done: 0 messages")


def test_kill_9_mid_stream_then_restart_gives_the_uninterrupted_result(broker, tmp_path):
    events = tmp_path / "logins.jsonl"
    generate(events, 600000, 20000, seed=9)
    broker.produce("logins-crash", events)
    env = engine_env(broker, tmp_path, "logins-crash")
    state_dir = tmp_path / "kafka-state"
    command = [STATEFOLD, "run", DEFS, "--stop-at-end", "--state-dir", str(state_dir),
               "--checkpoint-messages", "20000", "--checkpoint-ms", "200"]
    rng = random.Random(4)
    kills = 0
    for _ in range(3):
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.8, 2.0))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.communicate()
    assert kills >= 1
    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr
    assert features(state_dir) == file_mode_result(tmp_path, events)


def test_bad_messages_reach_the_dead_letter_topic_with_headers(broker, tmp_path):
    events = tmp_path / "logins.jsonl"
    records = []
    for i in range(30):
        value = {"user_id": f"u{i % 3}", "ip_address": f"10.0.0.{i}"}
        if i in (7, 19):
            value = {"user_id": f"u{i % 3}"}  # no ip_address: does not decode into LoginEvent
        records.append(json.dumps({"key": f"u{i % 3}", "value": value, "timestamp": 1000 + i}))
    events.write_text("\n".join(records) + "\n")
    broker.produce("logins-dlq-in", events)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    broker.produce("logins-dlq", empty)  # creates the dead-letter topic

    env = engine_env(broker, tmp_path, "logins-dlq-in")
    env[env_prefix("...") + "DEAD_LETTER_QUEUE_TOPIC"] = "logins-dlq"
    state_dir = tmp_path / "state"
    out = run_to_end(env, state_dir)
    assert "2 dead letters" in out, out
    assert statefold.Client(str(state_dir), follow=False).dead_letters() == []  # not stored locally

    consumed = subprocess.run([KAFKA_LOCAL, "consume", "logins-dlq", "2"], env=broker.env,
                              capture_output=True, text=True, timeout=120)
    # One record per "Partition:" (the error header spans several lines).
    lines = ["Partition:" + chunk for chunk in consumed.stdout.split("Partition:")[1:]]
    assert len(lines) == 2, consumed.stdout + consumed.stderr
    offsets = set()
    for line in lines:
        assert "statefold.source.topic:logins-dlq-in" in line, line
        assert "statefold.resolver:track_unique_ips" in line, line
        assert "ip_address" in line and "Field required" in line, line  # the pydantic error
        assert '{"user_id": "u1"}' in line, line  # the original value (i = 7 and 19: u1)
        offsets.add(line.split("statefold.source.offset:")[1].split(",")[0])
    assert len(offsets) == 2

    # The headers reach a parse= function that takes them: read the dead-letter topic back.
    reader_env = dict(env)
    reader_env[env_prefix("dlq") + "BOOTSTRAP_SERVER"] = broker.address
    reader_env[env_prefix("dlq") + "TOPIC"] = "logins-dlq"
    reader_dir = tmp_path / "reader-state"
    run_to_end(reader_env, reader_dir, os.path.join(os.path.dirname(__file__), "dead_letter_reader_defs.py"))
    client = statefold.Client(str(reader_dir), follow=False)
    seen = [entry for key in client.state_keys("read_dead_letters")
            for entry in client.state("read_dead_letters", key)["errors"]]
    assert sorted(seen) == sorted(f"track_unique_ips@{offset}" for offset in offsets)


def test_records_older_than_the_late_arrival_deadline_are_skipped_and_counted(broker, tmp_path):
    now_ms = int(time.time() * 1000)
    events = tmp_path / "logins.jsonl"
    lines = []
    for i in range(20):
        late = i % 4 == 0  # 5 records from two hours ago
        lines.append(json.dumps({"key": "u1", "value": {"user_id": "u1", "ip_address": f"10.0.0.{i}"},
                                 "timestamp": now_ms - (7_200_000 if late else 0) + i}))
    events.write_text("\n".join(lines) + "\n")
    broker.produce("logins-late", events)
    env = engine_env(broker, tmp_path, "logins-late")
    env[env_prefix("...") + "LATE_ARRIVAL_DEADLINE"] = "1h"
    state_dir = tmp_path / "state"
    out = run_to_end(env, state_dir)
    assert out.startswith("done: 15 messages"), out
    client = statefold.Client(str(state_dir), follow=False)
    assert client.get("user", "u1")["user.unique_ip_count"] == 15
    assert client.status()["sources"]["..."]["skipped_late"] == 5


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def start_worker(env, state_dir):
    """A `statefold run` worker of the group (no --stop-at-end), checkpointing often."""
    return subprocess.Popen([STATEFOLD, "run", DEFS, "--state-dir", str(state_dir),
                             "--checkpoint-ms", "300"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_workers(processes):
    """SIGTERM each worker (by PID) and wait; each must stop cleanly. Returns their stderr."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    outputs = [process.communicate(timeout=60) for process in processes]
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err
        assert out.startswith("stopped: "), out + err
    return [err for _, err in outputs]


def members_with_partitions(broker, group, topic):
    """How many members of `group` the broker shows with partitions of `topic`."""
    out = subprocess.run([KAFKA_LOCAL, "members", group], env=broker.env,
                         capture_output=True, text=True).stdout
    # One row per member; its assignment reads "topic:0,1".
    return len([line for line in out.splitlines() if f"{topic}:" in line])


def checkpointed_partitions(state_dir):
    """{partition: next offset} of the last checkpoint in `state_dir`, and its refused
    partitions; None before the first checkpoint."""
    try:
        status = statefold.Client(str(state_dir), follow=False).status()
    except statefold.StatefoldError:
        return None
    source = status["sources"]["..."]
    return {int(p): v["next_offset"] for p, v in source["partitions"].items()}, source["refused"]


def total_checkpointed(dirs):
    total = 0
    for d in dirs:
        seen = checkpointed_partitions(d)
        if seen is None:
            return -1
        total += sum(seen[0].values())
    return total


def test_two_processes_in_one_group_split_the_partitions(broker, tmp_path):
    """Each process owns the keys of its partitions in its own state directory; together they
    give the single-process result. (Both join before any message arrives, so no partition
    moves during the run.)"""
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    broker.produce("logins-split", empty)
    env = engine_env(broker, tmp_path, "logins-split")
    group = "test-logins-split.track_unique_ips"
    dirs = [tmp_path / "state-a", tmp_path / "state-b"]
    processes = [start_worker(env, d) for d in dirs]
    try:
        wait_for(lambda: members_with_partitions(broker, group, "logins-split") == 2, 90,
                 "two members with partitions")
        events = tmp_path / "logins.jsonl"
        generate(events, 30000, 3000, seed=5)
        broker.produce("logins-split", events)
        wait_for(lambda: total_checkpointed(dirs) == 30000, 120,
                 "both processes to reach the end of the topic")
    finally:
        stop_workers(processes)

    shares = [features(d) for d in dirs]
    assert shares[0] and shares[1], "each process must own some partitions"
    assert not set(shares[0]) & set(shares[1]), "a key must live in exactly one process"
    assert {**shares[0], **shares[1]} == file_mode_result(tmp_path, events)


def test_a_rolling_restart_moves_no_partition_and_loses_nothing(broker, tmp_path):
    """Issue #13's first finding: SIGTERM one of two workers and start it again. Each worker
    is a static member of the group (its state directory's instance id), so the restart moves
    no partition: no worker reads a partition whose state it lacks, and together they give
    the single-process result over everything produced before and after the restart."""
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    broker.produce("logins-rolling", empty)
    # A session long enough for a worker's restart (Python start-up included, on a loaded
    # machine); a static member that stops keeps its partitions for that long.
    env = engine_env(broker, tmp_path, "logins-rolling", **{"session.timeout.ms": "30000"})
    group = "test-logins-rolling.track_unique_ips"
    dirs = [tmp_path / "state-a", tmp_path / "state-b"]
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    generate(first, 20000, 2000, seed=21)
    generate(second, 20000, 2000, seed=22)
    processes = [start_worker(env, d) for d in dirs]
    try:
        wait_for(lambda: members_with_partitions(broker, group, "logins-rolling") == 2, 120,
                 "two members with partitions")
        broker.produce("logins-rolling", first)
        wait_for(lambda: total_checkpointed(dirs) == 20000, 120, "both workers to read the first half")
        shares_before = [set(checkpointed_partitions(d)[0]) for d in dirs]
        assert all(shares_before) and not shares_before[0] & shares_before[1], shares_before

        stop_workers(processes[:1])
        processes[0] = start_worker(env, dirs[0])  # the rolling restart
        broker.produce("logins-rolling", second)
        wait_for(lambda: total_checkpointed(dirs) == 40000, 180, "both workers to read the second half")
    finally:
        errors = stop_workers(processes)
    for d, before in zip(dirs, shares_before):
        partitions, refused = checkpointed_partitions(d)
        assert set(partitions) == before, "a partition moved"
        assert refused == {}, refused
    assert not any("is not read here" in err for err in errors), errors
    merged = tmp_path / "all.jsonl"
    merged.write_bytes(first.read_bytes() + second.read_bytes())
    shares = [features(d) for d in dirs]
    assert not set(shares[0]) & set(shares[1]), "a key must live in exactly one process"
    assert {**shares[0], **shares[1]} == file_mode_result(tmp_path, merged)


def test_a_partition_whose_state_is_in_another_directory_is_not_read_there(broker, tmp_path):
    """A worker with a new state directory in a group whose partitions another worker has
    read must not read on from the group's offsets: its keys would get partial state (issue
    #13's "35 % of events missing"). It refuses each such partition, says why, and a run to
    the end fails; the other worker's state and the group's offsets are untouched."""
    events = tmp_path / "logins.jsonl"
    generate(events, 8000, 800, seed=23)
    broker.produce("logins-owned", events)
    env = engine_env(broker, tmp_path, "logins-owned")
    owner, newcomer = tmp_path / "owner", tmp_path / "newcomer"
    assert run_to_end(env, owner).startswith("done: 8,000 messages")

    refused = subprocess.run([STATEFOLD, "run", DEFS, "--stop-at-end", "--state-dir", str(newcomer)],
                             env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stdout.startswith("done: 0 messages"), refused.stdout + refused.stderr
    assert "is not read here: group test-logins-owned.track_unique_ips has committed offset" \
        in refused.stderr, refused.stderr
    assert "for none of its records" in refused.stderr
    assert "another worker's state directory" in refused.stderr
    partitions, refusals = checkpointed_partitions(newcomer)
    assert partitions == {} and refusals, (partitions, refusals)
    assert all("is not read here" in reason for reason in refusals.values())
    shown = subprocess.run([STATEFOLD, "status", "--state-dir", str(newcomer)],
                           capture_output=True, text=True, check=True).stdout
    assert "refused: partition" in shown, shown

    # The owner reads on where it was (the newcomer committed nothing), with the same result.
    assert run_to_end(env, owner).startswith("done: 0 messages")
    assert features(owner) == file_mode_result(tmp_path, events)


def test_a_broker_restarted_mid_stream_loses_nothing(broker, tmp_path):
    events = tmp_path / "logins.jsonl"
    generate(events, 150000, 10000, seed=13)
    broker.produce("logins-restart", events)
    # A small fetch queue, so that the consumer is fetching while the broker is away (with the
    # default it would have prefetched the whole topic before the restart).
    env = engine_env(broker, tmp_path, "logins-restart", **{"queued.max.messages.kbytes": "256",
                                                            "fetch.message.max.bytes": "65536"})
    state_dir = tmp_path / "state"
    process = subprocess.Popen(
        [STATEFOLD, "run", DEFS, "--stop-at-end", "--state-dir", str(state_dir),
         "--checkpoint-ms", "300", "--batch-size", "256"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.2)
    assert process.poll() is None, "the run ended before the broker could be restarted"
    restarted = subprocess.run([KAFKA_LOCAL, "restart"], env=broker.env, capture_output=True, text=True,
                               timeout=300)
    assert restarted.returncode == 0, restarted.stderr
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert out.startswith("done: 150,000 messages"), out + err
    assert "statefold: kafka:" in err  # the outage was reported on stderr, and was not fatal
    assert features(state_dir) == file_mode_result(tmp_path, events)


def test_a_single_worker_source_fails_when_the_group_shares_its_partitions(broker, tmp_path):
    """single_worker (for state keyed by a message field) holds the source to one worker: a
    worker that the group gives only some partitions, for a whole session timeout, fails the
    run with a message naming them, instead of keeping a share of a key's state."""
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    broker.produce("logins-single", empty)
    env = engine_env(broker, tmp_path, "logins-single")
    group = "test-logins-single.track_unique_ips"
    other = start_worker(env, tmp_path / "other")
    try:
        wait_for(lambda: members_with_partitions(broker, group, "logins-single") == 1, 90,
                 "the other worker to hold the partitions")
        single = dict(env, **{env_prefix("...") + "SINGLE_WORKER": "1"})
        run = subprocess.run([STATEFOLD, "run", DEFS, "--state-dir", str(tmp_path / "single")],
                             env=single, capture_output=True, text=True, timeout=300)
    finally:
        stop_workers([other])
    assert run.returncode == 2, run.stdout + run.stderr
    assert "is set to single_worker, but group test-logins-single.track_unique_ips gives this " \
           "worker only partitions" in run.stderr, run.stderr

