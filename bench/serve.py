"""Serving benchmark: single-entity GETs at a fixed rate against `statefold serve`.

    .venv/bin/python bench/serve.py [--rate 10000] [--duration 10] [--connections 8]
                                    [--threads 2] [--redis] [--online-store URL ...]

Builds a state directory with the demo data once (bench/data/serve/: the login example over
200,000 generated events and 20,000 users, as `make demo`), then for each row starts
`statefold serve --port 0` on it, drives `GET /v1/features/user/{id}` over the users that have
features with build/bench/http_load (open loop: latency from each request's scheduled send time),
stops the server by PID, and prints a table. The "embedded" row reads the state directory;
each --online-store URL adds a row served from that store (which must hold the same data).
--redis starts Debian's redis-server on a free loopback port (stopped by PID at the end),
writes the same data into it with `statefold run --online-store`, and adds its row.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATEFOLD = os.path.join(ROOT, ".venv", "bin", "statefold")
HTTP_LOAD = os.path.join(ROOT, "build", "bench", "http_load")  # bench/CMakeLists.txt
DEFS = os.path.join(ROOT, "examples", "login", "defs.py")
DATA = os.path.join(ROOT, "bench", "data", "serve")


def prepare(messages: int, keys: int) -> Tuple[str, str]:
    """The demo state directory and a file of the ids that have features (built once)."""
    os.makedirs(DATA, exist_ok=True)
    tag = f"{messages}-{keys}"
    state_dir = os.path.join(DATA, f"state-{tag}")
    ids_path = os.path.join(DATA, f"ids-{tag}.txt")
    if not os.path.exists(ids_path):
        events = os.path.join(DATA, f"events-{tag}.jsonl")
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "generate_events.py"), "--messages",
                        str(messages), "--keys", str(keys), "--out", events], check=True)
        subprocess.run([STATEFOLD, "run", DEFS, "--input", events, "--state-dir", state_dir], check=True)
        listed = subprocess.run([STATEFOLD, "state", "list", "track_unique_ips", "--limit", str(keys),
                                 "--state-dir", state_dir], check=True, capture_output=True, text=True)
        with open(ids_path + ".tmp", "w") as out:
            out.write(listed.stdout)
        os.replace(ids_path + ".tmp", ids_path)
    return state_dir, ids_path


def start_redis(directory: str) -> Tuple[subprocess.Popen, int]:
    """redis-server on a free loopback port, without persistence; answers PING when returned."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", directory],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                c.sendall(b"PING\r\n")
                if c.recv(16).startswith(b"+PONG"):
                    return server, port
        except OSError:
            time.sleep(0.05)
    server.kill()
    sys.exit("redis-server did not start")


def serve_and_load(serve_args: List[str], ids_path: str, args: argparse.Namespace) -> dict:
    server = subprocess.Popen([STATEFOLD, "serve", "--port", "0", "--threads", str(args.threads), *serve_args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        if not line.startswith("serving on http://"):
            sys.exit(f"statefold serve did not start: {line}{server.stderr.read()}")
        port = line.strip().rsplit(":", 1)[1]
        result = subprocess.run([HTTP_LOAD, "--port", port, "--rate", str(args.rate), "--duration",
                                 str(args.duration), "--warmup", str(args.warmup), "--connections",
                                 str(args.connections), "--ids", ids_path, "--json"],
                                capture_output=True, text=True)
        if not result.stdout.strip():
            sys.exit(f"http_load failed: {result.stderr}")
        measured = json.loads(result.stdout)
        # The server's own share: mean time in the handler, from its latency histogram.
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        total = float(re.search(r'^statefold_http_request_duration_seconds_sum\{route="features"\} (\S+)$',
                                metrics, re.M).group(1))
        count = float(re.search(r'^statefold_http_request_duration_seconds_count\{route="features"\} (\S+)$',
                                metrics, re.M).group(1))
        measured["handler_mean_us"] = total / count * 1e6 if count else 0.0
        return measured
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=10000, help="requests per second (default 10000)")
    p.add_argument("--duration", type=float, default=10, help="measured seconds (default 10)")
    p.add_argument("--warmup", type=float, default=1, help="seconds before measuring (default 1)")
    p.add_argument("--connections", type=int, default=8, help="keep-alive connections (default 8)")
    p.add_argument("--threads", type=int, default=2, help="server event-loop threads (default 2)")
    p.add_argument("--messages", type=int, default=200000)
    p.add_argument("--keys", type=int, default=20000)
    p.add_argument("--online-store", action="append", default=[], metavar="URL",
                   help="also measure a server reading this online store (repeatable)")
    p.add_argument("--redis", action="store_true",
                   help="also measure Redis: start redis-server and write the same data into it")
    args = p.parse_args()
    if not os.path.exists(HTTP_LOAD):
        sys.exit(f"{HTTP_LOAD} is missing: run `make bench-serve` (it builds with -DSTATEFOLD_BENCH=ON)")
    state_dir, ids_path = prepare(args.messages, args.keys)
    with open(ids_path) as f:
        entities = sum(1 for line in f if line.strip())

    rows = [("embedded (RocksDB follower)", ["--state-dir", state_dir])]
    rows += [(url, ["--state-dir", state_dir, "--online-store", url]) for url in args.online_store]
    redis = None
    scratch = tempfile.mkdtemp(prefix="statefold-bench-serve-")
    if args.redis:
        redis, port = start_redis(scratch)
        url = f"redis://127.0.0.1:{port}/0"
        events = os.path.join(DATA, f"events-{args.messages}-{args.keys}.jsonl")
        subprocess.run([STATEFOLD, "run", DEFS, "--input", events, "--state-dir",
                        os.path.join(scratch, "state"), "--online-store", url], check=True,
                       capture_output=True)
        rows.append(("Redis (redis-server 7 on loopback)", ["--state-dir", state_dir, "--online-store", url]))
    try:
        run_rows(rows, ids_path, entities, args)
    finally:
        if redis is not None:
            redis.terminate()
            redis.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)


def run_rows(rows: List[Tuple[str, List[str]]], ids_path: str, entities: int,
             args: argparse.Namespace) -> None:
    print(f"GET /v1/features/user/{{id}} over {entities:,} entities: {args.rate:,.0f} requests/s for "
          f"{args.duration:g} s (after {args.warmup:g} s warm-up), {args.connections} connections, "
          f"{args.threads} server threads; latency from the scheduled send time")
    print()
    print("| online store | achieved req/s | p50 | p90 | p99 | p99.9 | max | errors | handler mean |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, serve_args in rows:
        r = serve_and_load(serve_args, ids_path, args)

        def ms(key: str) -> str:
            return f"{r[key] / 1000:.3f} ms"

        print(f"| {name} | {r['achieved_rate']:,.0f} | {ms('p50_us')} | {ms('p90_us')} | {ms('p99_us')} | "
              f"{ms('p999_us')} | {ms('max_us')} | {r['errors']} | {r['handler_mean_us']:.1f} µs |", flush=True)


if __name__ == "__main__":
    main()
