"""statefold benchmark: the reference's login example over N messages and K skewed keys.

    .venv/bin/python bench/run.py [--messages 1000000] [--keys 100000] [--kafka]

Runs, over the same generated file:
  statefold        `statefold run` with durable RocksDB state (the product)
  python-loop      a plain Python loop: json.loads, pydantic validation, a dict of state
                   objects and the same resolver function; nothing durable (the floor that
                   any Python-hosted engine pays for the user's code)
With --kafka, also (on a local broker from scripts/kafka-local, to which the same events are
produced once per topic):
  statefold-kafka  `statefold run --stop-at-end` reading the topic in a consumer group
  kafka-drain      a plain librdkafka consumer that reads the topic and does no work (the
                   ceiling; build/bench/kafka_drain)
and prints messages/s, peak RSS, and each row's ratio to statefold.

Then the native table, over --native-messages messages and --native-keys keys:
  statefold run MODULE.so  the native login example (examples/login_native) on the engine,
                           loaded by `statefold run`, with durable RocksDB state
  native own binary        the same resolver and engine linked into a program (build/bench/native_bench)
  bare loop                read the file, parse each record with simdjson, update a hash map of
                           the same state type; nothing durable (the in-process ceiling)
with each row's ratio to the bare loop.

Then the poisoned hot key table (issue 12, item 7), over --poisoned-messages messages: half
of them of one hot key, the rest spread over 10,000 keys, every tenth message of the hot key
poisoned (bench/poisoned_defs.py, the login example's resolver):
  no raises                    the poisoned messages are applied like the others
  10 % of hot-key calls raise  each poisoned message raises after mutating its state, so the
                               engine rolls the key back and dead-letters it
  the same raises, each on a fresh key   the poisoned messages under keys of their own: the
                               cost of a failure with nothing to replay (the floor)
with each row's ratio to the first; they alternate over --poisoned-rounds rounds and
keep their fastest. --poisoned-only runs this table alone.

Each row runs in its own process, pinned to one core with taskset when available. The native rows run --native-rounds times in turn (so that no
row always runs first) and each keeps its fastest round: single runs of these 3-second rows
vary by about 10 % on a shared machine.
"""

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
DEFS = os.path.join(ROOT, "examples", "login", "defs.py")
# The programs of bench/CMakeLists.txt, built with STATEFOLD_BENCH=ON (`make bench`).
BENCH_BUILD = os.path.join(ROOT, "build", "bench")

PYTHON_LOOP = r'''
import json, sys, time
sys.path.insert(0, sys.argv[2])
import importlib.util
spec = importlib.util.spec_from_file_location("defs", sys.argv[3]); defs = importlib.util.module_from_spec(spec); spec.loader.exec_module(defs)
fn = defs.track_unique_ips.function
validate = defs.LoginEvent.model_validate
states, outputs = {}, 0
start = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    for line in f:
        record = json.loads(line)
        event = validate(record["value"])
        key = record["key"]
        state = states.get(key)
        if state is None:
            state = states[key] = defs.LoginState(unique_ips=set())
        if fn(event, state) is not None:
            outputs += 1
print(time.perf_counter() - start)
'''


def pinned(command):
    return (["taskset", "-c", "1"] + command) if shutil.which("taskset") else command


# Runs a command and prints its peak RSS (KiB) on stderr's last line: each row gets its own
# measuring process, since RUSAGE_CHILDREN keeps the maximum over all children.
PEAK_RSS = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)"
)


def measure(name, command, env=None):
    started = time.perf_counter()
    result = subprocess.run(pinned([sys.executable, "-c", PEAK_RSS] + command), capture_output=True,
                            text=True, env=env)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{name} failed:\n{result.stdout}\n{result.stderr}")
    peak_kib = int(result.stderr.strip().splitlines()[-1])
    return result.stdout, wall, peak_kib


def kafka_rows(args, events):
    kafka_local = os.path.join(ROOT, "scripts", "kafka-local")
    was_running = subprocess.run([kafka_local, "address"], capture_output=True).returncode == 0
    address = subprocess.run([kafka_local, "start"], capture_output=True, text=True, check=True).stdout.strip()
    try:
        topic = f"bench-logins-{args.messages}-{args.keys}"
        topics = subprocess.run([kafka_local, "topics"], capture_output=True, text=True, check=True).stdout.split()
        if topic not in topics:
            subprocess.run([kafka_local, "produce", topic, events], check=True, capture_output=True)
        env = dict(os.environ)
        prefix = "STATEFOLD_KAFKA_____"  # the example's KafkaSource(name="...")
        env[prefix + "BOOTSTRAP_SERVER"] = address
        env[prefix + "TOPIC"] = topic
        env[prefix + "GROUP_ID_PREFIX"] = f"bench-{time.time_ns()}"
        state_dir = os.path.join(args.work_dir, "kafka-state")
        shutil.rmtree(state_dir, ignore_errors=True)
        out, wall, rss = measure("statefold-kafka", [os.path.join(ROOT, ".venv", "bin", "statefold"), "run",
                                                     DEFS, "--stop-at-end", "--state-dir", state_dir], env)
        seconds = float(out.split(" in ")[1].split(" s ")[0])
        rows = [("statefold-kafka (topic, 4 partitions)", seconds, wall, rss)]
        out, wall, rss = measure("kafka-drain", [bench_program("kafka_drain"), address, topic])
        count, seconds = out.split()
        assert int(count) == args.messages, out
        rows.append(("kafka-drain (librdkafka, no work)", float(seconds), wall, rss))
        return rows
    finally:
        if not was_running:
            subprocess.run([kafka_local, "stop"], capture_output=True)


def events_file(args, messages, keys):
    events = os.path.join(args.work_dir, f"logins-{messages}-{keys}.jsonl")
    if not os.path.exists(events):
        subprocess.run([PYTHON, os.path.join(ROOT, "bench", "generate_events.py"), "--messages",
                        str(messages), "--keys", str(keys), "--out", events], check=True)
    return events


def native_rows(args):
    events = events_file(args, args.native_messages, args.native_keys)
    module = os.path.join(ROOT, "build", "examples", "login_native", "liblogin_features.so")
    bench = bench_program("native_bench")
    state_dir = os.path.join(args.work_dir, "native-state")

    def module_row():
        shutil.rmtree(state_dir, ignore_errors=True)
        out, wall, rss = measure("statefold-native", [os.path.join(ROOT, ".venv", "bin", "statefold"), "run",
                                                      module, "--input", events, "--state-dir", state_dir])
        return float(out.split(" in ")[1].split(" s ")[0]), wall, rss

    def own_binary_row():
        shutil.rmtree(state_dir, ignore_errors=True)
        out, wall, rss = measure("native-engine", [bench, "--input", events, "--state-dir", state_dir,
                                                   "--only", "engine"])
        return float(out.split()[2]), wall, rss

    def bare_row():
        out, wall, rss = measure("bare-loop", [bench, "--input", events, "--only", "bare"])
        return float(out.split()[2]), wall, rss

    runners = [("statefold run liblogin_features.so", module_row),
               ("native own binary (engine, durable)", own_binary_row),
               ("bare loop (simdjson + hash map)", bare_row)]
    return best_of_rounds(runners, args.native_rounds)


def best_of_rounds(runners, rounds):
    """Runs each (name, run) of `runners` `rounds` times and keeps each one's fastest result
    (run() returns (seconds, wall, rss)); each round starts with another row, so that no row
    always runs first."""
    best = {}
    for round_index in range(rounds):
        for k in range(len(runners)):
            name, run = runners[(round_index + k) % len(runners)]
            result = run()
            if name not in best or result[0] < best[name][0]:
                best[name] = result
    return [(name, *best[name]) for name, _ in runners]


def poisoned_events(args, fresh_keys):
    """The poisoned hot key's input: message i is the hot key's when i is even, and every tenth
    of the hot key's messages is poisoned. With `fresh_keys`, each poisoned message has a key of
    its own instead, so that its failure has nothing to replay."""
    name = "poisoned-fresh" if fresh_keys else "poisoned"
    path = os.path.join(args.work_dir, f"{name}-{args.poisoned_messages}.jsonl")
    if not os.path.exists(path):
        rng = random.Random(12)
        with open(path, "w") as out:
            for i in range(args.poisoned_messages):
                user = "hot" if i % 2 == 0 else f"u{rng.randrange(10_000)}"
                ip = "poison" if i % 20 == 18 else f"10.0.{rng.randrange(16)}.{rng.randrange(16)}"
                if fresh_keys and ip == "poison":
                    user = f"p{i}"
                out.write(f'{{"key": "{user}", "value": {{"user_id": "{user}", "ip_address": "{ip}"}}, '
                          f'"timestamp": {1767225600000 + i}}}\n')
    return path


def poisoned_rows(args):
    defs = os.path.join(ROOT, "bench", "poisoned_defs.py")
    state_dir = os.path.join(args.work_dir, "poisoned-state")

    def row(raise_flag, fresh_keys=False):
        events = poisoned_events(args, fresh_keys)

        def run():
            shutil.rmtree(state_dir, ignore_errors=True)
            env = dict(os.environ, STATEFOLD_BENCH_RAISE=raise_flag)
            out, wall, rss = measure("poisoned", [os.path.join(ROOT, ".venv", "bin", "statefold"), "run", defs,
                                                  "--input", events, "--state-dir", state_dir], env)
            # "done: N messages, K dead letters, ...": the dead letters prove the raises happened.
            dead = int(out.split(" dead letters")[0].rsplit(", ", 1)[1].replace(",", ""))
            expected = args.poisoned_messages // 20 if raise_flag == "1" else 0
            assert dead == expected, out
            return float(out.split(" in ")[1].split(" s ")[0]), wall, rss
        return run

    runners = [("no raises", row("0")), ("10 % of hot-key calls raise", row("1")),
               ("the same raises, each on a fresh key", row("1", fresh_keys=True))]
    return best_of_rounds(runners, args.poisoned_rounds)


def print_table(title, messages, rows, base_row, base_name):
    base = messages / rows[base_row][1]
    print(title)
    print(f"{'runner':40} {'msg/s':>12} {'seconds':>8} {'wall s':>7} {'peak RSS':>10} {'vs ' + base_name:>14}")
    for name, seconds, wall, rss in rows:
        rate = messages / seconds
        rss_text = f"{rss / 1024:.0f} MiB"
        print(f"{name:40} {rate:12,.0f} {seconds:8.2f} {wall:7.2f} {rss_text:>10} {rate / base:13.2f}x")


def bench_program(name):
    """The path of a program of bench/CMakeLists.txt; exits when it was not built."""
    path = os.path.join(BENCH_BUILD, name)
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: run `make bench` (it builds with -DSTATEFOLD_BENCH=ON)")
    return path


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--keys", type=int, default=100_000)
    p.add_argument("--work-dir", default=os.path.join(ROOT, "bench", "out"))
    p.add_argument("--kafka", action="store_true", help="also run the Kafka rows (starts a local broker)")
    p.add_argument("--native-messages", type=int, default=10_000_000)
    p.add_argument("--native-keys", type=int, default=10_000)
    p.add_argument("--no-native", action="store_true", help="skip the native table")
    p.add_argument("--native-rounds", type=int, default=3,
                   help="rounds of the native rows; each row keeps its fastest")
    p.add_argument("--poisoned-messages", type=int, default=100_000)
    p.add_argument("--poisoned-rounds", type=int, default=3,
                   help="rounds of the poisoned hot key rows; each row keeps its fastest")
    p.add_argument("--poisoned-only", action="store_true", help="run only the poisoned hot key table")
    args = p.parse_args()
    # Before any row runs: the missing program is found at once, not minutes later.
    if args.kafka:
        bench_program("kafka_drain")
    if not args.no_native and not args.poisoned_only:
        bench_program("native_bench")
    os.makedirs(args.work_dir, exist_ok=True)
    if args.poisoned_only:
        print_poisoned_table(args)
        return
    events = events_file(args, args.messages, args.keys)

    rows = []
    state_dir = os.path.join(args.work_dir, "state")
    shutil.rmtree(state_dir, ignore_errors=True)
    out, wall, rss = measure("statefold", [os.path.join(ROOT, ".venv", "bin", "statefold"), "run", DEFS,
                                           "--input", events, "--state-dir", state_dir])
    # "done: N messages, ... in S s (R messages/s)": the engine's own timing, without start-up.
    engine_seconds = float(out.split(" in ")[1].split(" s ")[0])
    rows.append(("statefold (durable, RocksDB)", engine_seconds, wall, rss))

    out, wall, rss = measure("python-loop", [PYTHON, "-c", PYTHON_LOOP, events, os.path.join(ROOT, "python"), DEFS])
    rows.append(("python-loop (in memory, not durable)", float(out.strip()), wall, rss))

    if args.kafka:
        rows.extend(kafka_rows(args, events))

    print_table(f"{args.messages:,} messages, {args.keys:,} keys (Zipf 1.1), one core", args.messages,
                rows, 0, "statefold")
    if not args.no_native:
        print()
        print_table(f"native: {args.native_messages:,} messages, {args.native_keys:,} keys (Zipf 1.1), "
                    f"one core, best of {args.native_rounds} rounds", args.native_messages,
                    native_rows(args), 2, "bare loop")
    print()
    print_poisoned_table(args)


def print_poisoned_table(args):
    print_table(f"poisoned hot key: {args.poisoned_messages:,} messages, half of them one key's, "
                f"every tenth of those raising; one core, best of {args.poisoned_rounds} rounds",
                args.poisoned_messages, poisoned_rows(args), 0, "no raises")


if __name__ == "__main__":
    main()
