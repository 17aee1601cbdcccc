"""Serving features over HTTP: `statefold serve` and `statefold run --serve` with the
reference example, read back with `statefold.Client(url=...)` and over raw sockets.

Every server is a real `statefold` process on 127.0.0.1 with port 0 (it prints the port it
got), and is stopped by its PID at the end of the test that started it."""

import http.client
import json
import math
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

import statefold
from statefold import Client, NotFoundError, StatefoldError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STATEFOLD = os.path.join(ROOT, ".venv", "bin", "statefold")
DEFS = os.path.join(ROOT, "examples", "login", "defs.py")
GENERATE = os.path.join(ROOT, "bench", "generate_events.py")

sys.path.insert(0, os.path.dirname(DEFS))
from defs import User  # noqa: E402  (the reference example's feature class)


def generate(path, messages: int, keys: int) -> None:
    subprocess.run([sys.executable, GENERATE, "--messages", str(messages), "--keys", str(keys),
                    "--out", str(path)], check=True)


class Server:
    """A `statefold serve` (or `run --serve`) process, stopped by PID on exit."""

    def __init__(self, *args: str, env: Optional[Dict[str, str]] = None):
        self.process = subprocess.Popen([STATEFOLD, *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                        env={**os.environ, **(env or {})})
        line = self.process.stdout.readline()
        if not line.startswith("serving on http://"):
            self.stop()
            raise AssertionError(f"no 'serving on' line: {line!r}\n{self.process.stderr.read()}")
        self.url = line.split()[-1]
        self.port = int(self.url.rsplit(":", 1)[1])

    def stop(self, signum: int = signal.SIGTERM) -> Tuple[int, str, str]:
        if self.process.poll() is None:
            os.kill(self.process.pid, signum)
        try:
            out, err = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            out, err = self.process.communicate()
        return self.process.returncode, out, err

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        code, out, err = self.stop()
        if exc[0] is None:
            assert code == 0, f"the server exited {code}\n{out}\n{err}"


@pytest.fixture(scope="module")
def login_state(tmp_path_factory) -> Tuple[str, List[str]]:
    """The reference example run over 20,000 generated events: (state dir, user ids)."""
    base = tmp_path_factory.mktemp("login")
    events = base / "logins.jsonl"
    generate(events, 20000, 2000)
    state_dir = str(base / "state")
    subprocess.run([STATEFOLD, "run", DEFS, "--input", str(events), "--state-dir", state_dir],
                   check=True, capture_output=True)
    ids = Client(state_dir, follow=False).state_keys("track_unique_ips", limit=100000)
    assert len(ids) > 1000
    return state_dir, ids


@pytest.fixture(scope="module")
def server(login_state) -> Iterator[Server]:
    with Server("serve", "--state-dir", login_state[0], "--port", "0") as s:
        yield s


def raw_request(port: int, data: bytes, shutdown: bool = False, timeout: float = 10):
    """Sends `data` on a new connection and reads one response: (status, headers, JSON body or
    text, closed) where `closed` says the server closed the connection after it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if shutdown:
            s.shutdown(socket.SHUT_WR)
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = s.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed before a response: {buffer!r}")
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        body, extra = rest[:length], rest[length:]
        closed = False
        if not extra:
            s.settimeout(0.3)
            try:
                closed = s.recv(1) == b""
            except socket.timeout:
                closed = False
            except ConnectionResetError:
                closed = True
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = body.decode("utf-8", "replace")
        return status, headers, parsed, closed


def http_json(port: int, method: str, path: str, body: Optional[bytes] = None,
              headers: Optional[Dict[str, str]] = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(data)
    finally:
        connection.close()


def assert_still_serving(server: Server, some_id: str) -> None:
    assert http_json(server.port, "GET", "/healthz")[2] == {"status": "ok"}
    assert Client(url=server.url).get(User, some_id)["user.id"] == some_id


# =============================================================================================
# Reads
# =============================================================================================


def test_served_features_equal_the_state_directory_reads(server, login_state):
    state_dir, ids = login_state
    local = Client(state_dir, follow=False)
    remote = Client(url=server.url)
    for id in ids:
        assert remote.get(User, id) == local.get(User, id)
    for id in ids[:200]:
        assert remote.get_with_times("user", id) == local.get_with_times("user", id)
    assert remote.get(User, "u0") == {"user.id": "u0", "user.unique_ip_count": 16}
    # The URL may also come first, as a state directory would.
    assert Client(server.url).get("user", ids[0]) == local.get("user", ids[0])
    with pytest.raises(NotFoundError, match="no features for user nobody"):
        remote.get(User, "nobody")
    with pytest.raises(NotFoundError):
        remote.get("no_such_namespace", ids[0])
    with pytest.raises(StatefoldError, match="reads features only"):
        remote.state("track_unique_ips", ids[0])


def test_ids_with_reserved_characters_reach_the_store(tmp_path):
    events = tmp_path / "odd.jsonl"
    odd_ids = ["a b", "x/y", "100%", "ü?#&", "+plus"]
    events.write_text("".join(
        json.dumps({"key": k, "value": {"user_id": k, "ip_address": "10.0.0.1"}, "timestamp": 1}) + "\n"
        for k in odd_ids))
    state_dir = str(tmp_path / "state")
    subprocess.run([STATEFOLD, "run", DEFS, "--input", str(events), "--state-dir", state_dir],
                   check=True, capture_output=True)
    with Server("serve", "--state-dir", state_dir, "--port", "0") as s:
        client = Client(url=s.url)
        for id in odd_ids:
            assert client.get(User, id) == {"user.id": id, "user.unique_ip_count": 1}


def test_query_returns_a_row_per_input(server, login_state):
    state_dir, ids = login_state
    local = Client(state_dir, follow=False)
    remote = Client(url=server.url)
    wanted = ids[:50] + ["nobody", ids[0]]
    rows = remote.query(input={User.id: wanted}, output=[User.unique_ip_count])
    assert rows == [
        {"user.id": id, "user.unique_ip_count": local.get(User, id)["user.unique_ip_count"] if id != "nobody" else None}
        for id in wanted
    ]
    # The state-directory client answers the same query the same way.
    assert local.query(input={User.id: wanted}, output=[User.unique_ip_count]) == rows
    with_meta = remote.query(input={"user.id": [ids[0], "nobody"]}, output=["user.unique_ip_count"],
                             include_meta=True)
    times = local.get_with_times(User, ids[0])["user.unique_ip_count"]
    assert with_meta == [
        {"user.id": ids[0], "user.unique_ip_count": times["value"],
         "meta": {"user.unique_ip_count": {"time_ms": times["time_ms"], "offset": times["offset"]}}},
        {"user.id": "nobody", "user.unique_ip_count": None, "meta": {}},
    ]
    assert local.query(input={"user.id": [ids[0], "nobody"]}, output=["user.unique_ip_count"],
                       include_meta=True) == with_meta
    # A single id is a list of one; the primary key may be asked for too.
    assert remote.query(input={User.id: ids[1]}, output=[User.id, User.unique_ip_count]) == [
        local.get(User, ids[1])]
    status, _, body = http_json(server.port, "POST", "/v1/query", json.dumps(
        {"inputs": {"user.id": [0, 3]}, "outputs": ["user.unique_ip_count"]}).encode())
    assert status == 200 and body == {"rows": [
        {"user.id": 0, "user.unique_ip_count": None}, {"user.id": 3, "user.unique_ip_count": None}]}
    with pytest.raises(StatefoldError, match="not a feature of the input's namespace"):
        remote.query(input={User.id: ["u1"]}, output=["card.limit"])


# =============================================================================================
# Errors: each malformed request gets its 4xx, and the server goes on serving
# =============================================================================================


def post_query(body: bytes) -> bytes:
    return (b"POST /v1/query HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


MALFORMED = [
    ("bad JSON", post_query(b'{"inputs": {"user.id": ["u1"]'), 400, "invalid_json", False),
    ("empty body", post_query(b""), 400, "invalid_json", False),
    ("not an object", post_query(b'["user.id"]'), 400, "invalid_query", False),
    ("two primary keys", post_query(b'{"inputs": {"user.id": ["u1"], "card.id": ["c"]}, "outputs": ["user.x"]}'),
     400, "invalid_query", False),
    ("ids not a list", post_query(b'{"inputs": {"user.id": "u1"}, "outputs": ["user.x"]}'), 400,
     "invalid_query", False),
    ("id of a wrong type", post_query(b'{"inputs": {"user.id": [{"a": 1}]}, "outputs": ["user.x"]}'), 400,
     "invalid_query", False),
    ("output of another namespace", post_query(b'{"inputs": {"user.id": ["u1"]}, "outputs": ["card.x"]}'),
     400, "invalid_query", False),
    ("no outputs", post_query(b'{"inputs": {"user.id": ["u1"]}}'), 400, "invalid_query", False),
    ("too many inputs", post_query(json.dumps({"inputs": {"user.id": [f"u{i}" for i in range(1001)]},
                                               "outputs": ["user.unique_ip_count"]}).encode()),
     400, "too_many_inputs", False),
    ("unknown route", b"GET /v2/features HTTP/1.1\r\nHost: t\r\n\r\n", 404, "not_found", False),
    ("unknown namespace", b"GET /v1/features/card/u1 HTTP/1.1\r\nHost: t\r\n\r\n", 404, "not_found", False),
    ("wrong method", b"DELETE /v1/features/user/u1 HTTP/1.1\r\nHost: t\r\n\r\n", 405,
     "method_not_allowed", False),
    ("GET on the query route", b"GET /v1/query HTTP/1.1\r\nHost: t\r\n\r\n", 405, "method_not_allowed", False),
    ("bad percent-encoding", b"GET /v1/features/user/%zz HTTP/1.1\r\nHost: t\r\n\r\n", 400, "bad_request",
     False),
    ("oversized body", b"POST /v1/query HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n"
     + b"x" * 2000000, 413, "payload_too_large", True),
    ("chunked body", b"POST /v1/query HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"2\r\n{}\r\n0\r\n\r\n", 411, "length_required", True),
    ("huge headers", b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431,
     "header_too_large", True),
    ("garbage instead of HTTP", bytes(range(256)) * 4, 400, "bad_request", True),
    ("TLS handshake", bytes.fromhex("16030100a5010000a10303") + os.urandom(64), 400, "bad_request", True),
    ("no Host", b"GET /healthz HTTP/1.1\r\n\r\n", 400, "bad_request", True),
    ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "http_version_not_supported", True),
]


@pytest.mark.parametrize("name,data,status,code,closes", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_requests_get_their_4xx_and_the_server_keeps_serving(server, login_state, name, data,
                                                                       status, code, closes):
    got_status, headers, body, closed = raw_request(server.port, data)
    assert got_status == status, body
    assert headers["content-type"] == "application/json"
    assert body["error"]["code"] == code and body["error"]["message"]
    assert closed == closes
    if status == 405:
        assert headers["allow"] in ("GET, HEAD", "POST")
    assert_still_serving(server, login_state[1][0])


def test_half_closed_connections_get_their_answers(server, login_state):
    ids = login_state[1]
    # The client sends two requests and closes its side: both are answered, then the server
    # closes.
    request = b"".join(f"GET /v1/features/user/{id} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for id in ids[:2])
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := s.recv(65536):
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK") == 2
    assert f'"id":"{ids[1]}"'.encode() in received
    # Half a request, then the close: no answer, no harm.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET /v1/features/user/u1 HTT")
        s.shutdown(socket.SHUT_WR)
        assert s.recv(1) == b""
    # A connection that goes away in the middle of a body.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"POST /v1/query HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{\"in")
    assert_still_serving(server, ids[0])


def test_keep_alive_and_pipelining(server, login_state):
    ids = login_state[1][:20]
    request = b"".join(f"GET /v1/features/user/{id} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for id in ids)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(request)
        received = b""
        while received.count(b"HTTP/1.1 200 OK") < len(ids) or not received.endswith(b"}}}"):
            chunk = s.recv(65536)
            assert chunk, received
            received += chunk
    found = re.findall(rb'"id":"(u\d+)","features"', received)
    assert [f.decode() for f in found] == ids  # in request order


# =============================================================================================
# The token
# =============================================================================================


def test_a_token_guards_every_route_but_health(login_state):
    state_dir, ids = login_state
    with Server("serve", "--state-dir", state_dir, "--port", "0",
                env={"STATEFOLD_SERVE_TOKEN": "t0ken"}) as s:
        path = f"/v1/features/user/{ids[0]}"
        status, headers, body = http_json(s.port, "GET", path)
        assert status == 401 and headers["www-authenticate"] == 'Bearer realm="statefold"'
        assert body["error"]["code"] == "unauthorized"
        status, headers, _ = http_json(s.port, "GET", path, headers={"Authorization": "Bearer wrong"})
        assert status == 401 and 'error="invalid_token"' in headers["www-authenticate"]
        assert http_json(s.port, "GET", "/metrics")[0] == 401
        assert http_json(s.port, "POST", "/v1/query", b"{}")[0] == 401
        assert http_json(s.port, "GET", path, headers={"Authorization": "Bearer t0ken"})[0] == 200
        assert http_json(s.port, "GET", "/healthz")[0] == 200
        assert Client(url=s.url, token="t0ken").get(User, ids[0])["user.id"] == ids[0]
        with pytest.raises(StatefoldError, match="HTTP 401"):
            Client(url=s.url).get(User, ids[0])
    # --token on the command line works the same.
    with Server("serve", "--state-dir", state_dir, "--port", "0", "--token", "other") as s:
        assert Client(url=s.url, token="other").query(input={User.id: [ids[0]]}, output=[User.unique_ip_count])
        with pytest.raises(StatefoldError, match="HTTP 401"):
            Client(url=s.url, token="t0ken").get(User, ids[0])


# =============================================================================================
# Metrics
# =============================================================================================


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')


def parse_prometheus(text: str) -> Dict[Tuple[str, frozenset], float]:
    """Parses the Prometheus text format strictly: every sample's family has a TYPE line
    before it, label sets are well-formed, values are numbers."""
    assert text.endswith("\n")
    types: Dict[str, str] = {}
    samples: Dict[Tuple[str, frozenset], float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            assert len(line.split(" ", 3)) == 4, line
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in types, f"{name} declared twice"
            types[name] = kind
            continue
        assert not line.startswith("#") and line, line
        match = SAMPLE.match(line)
        assert match, f"not a sample: {line!r}"
        name, labels, value = match.groups()
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"{name} has no TYPE line before it"
        label_set = {}
        if labels:
            consumed = ",".join(f'{k}="{v}"' for k, v in LABEL.findall(labels))
            assert consumed == labels, f"malformed labels in {line!r}"
            label_set = dict(LABEL.findall(labels))
        key = (name, frozenset(label_set.items()))
        assert key not in samples, f"duplicate sample {line!r}"
        samples[key] = float(value)
    return samples


def metric(samples, name: str, **labels) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_metrics_parse_as_prometheus_text_with_engine_and_server_metrics(server, login_state):
    state_dir, ids = login_state
    client = Client(url=server.url)
    before = parse_prometheus(http_text(server.port, "/metrics"))
    base = before.get(("statefold_http_requests_total",
                       frozenset({"route": "features", "code": "200"}.items())), 0)
    for id in ids[:10]:
        client.get(User, id)
    with pytest.raises(NotFoundError):
        client.get(User, "nobody")
    samples = parse_prometheus(http_text(server.port, "/metrics"))
    status = Client(state_dir, follow=False).status()
    assert metric(samples, "statefold_messages_total") == 20000 == status["run"]["messages"]
    assert metric(samples, "statefold_outputs_total") == 20000
    assert metric(samples, "statefold_resolver_errors_total") == 0
    assert metric(samples, "statefold_dead_letters_total") == 0
    assert metric(samples, "statefold_checkpoints_total") == status["run"]["checkpoints"]
    assert metric(samples, "statefold_resolver_keys", resolver="track_unique_ips") == len(ids)
    assert metric(samples, "statefold_source_next_offset", source="...", partition="0") == 20000
    assert metric(samples, "statefold_last_checkpoint_timestamp_seconds") == status["updated_ms"] / 1000
    assert "statefold_checkpoint_commit_seconds" in {name for name, _ in samples}
    assert metric(samples, "statefold_http_requests_total", route="features", code="200") == base + 10
    assert metric(samples, "statefold_http_requests_total", route="features", code="404") >= 1
    assert metric(samples, "statefold_http_open_connections") >= 1
    # The latency histogram: cumulative buckets, +Inf equal to the count.
    buckets = sorted(((float(dict(labels)["le"]), value) for (name, labels), value in samples.items()
                      if name == "statefold_http_request_duration_seconds_bucket"
                      and dict(labels)["route"] == "features"))
    assert buckets[-1][0] == math.inf
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))
    assert buckets[-1][1] == metric(samples, "statefold_http_request_duration_seconds_count", route="features")
    assert metric(samples, "statefold_http_request_duration_seconds_sum", route="features") > 0


def http_text(port: int, path: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
        return response.read().decode()
    finally:
        connection.close()


# =============================================================================================
# Processes: run --serve, signals, concurrent readers while the engine writes
# =============================================================================================


@pytest.fixture(scope="module")
def long_input(tmp_path_factory):
    path = tmp_path_factory.mktemp("long") / "logins.jsonl"
    generate(path, 400000, 5000)
    return str(path)


def test_run_serve_serves_while_the_engine_runs(tmp_path, long_input):
    state_dir = str(tmp_path / "state")  # does not exist yet: the engine creates it
    server = Server("run", DEFS, "--input", long_input, "--state-dir", state_dir, "--serve", "--port", "0",
                    "--checkpoint-messages", "20000")
    try:
        assert http_json(server.port, "GET", "/healthz")[2] == {"status": "ok"}
        client = Client(url=server.url)
        deadline = time.monotonic() + 60
        served = None
        while served is None and time.monotonic() < deadline and server.process.poll() is None:
            try:
                served = client.get(User, "u0")
            except StatefoldError:  # 503 before the directory exists, 404 before u0's checkpoint
                time.sleep(0.01)
        assert served is not None and served["user.id"] == "u0"
        # The run ends on SIGINT with a checkpoint; the server stops after it.
        code, out, err = server.stop(signal.SIGINT)
    finally:
        server.stop(signal.SIGKILL)
    assert code == 0, err
    assert "stopped:" in out
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
    assert Client(state_dir, follow=False).get(User, "u0")["user.unique_ip_count"] >= served["user.unique_ip_count"]


def test_run_serve_stops_the_server_when_the_run_ends(tmp_path, login_state):
    events = tmp_path / "small.jsonl"
    generate(events, 1000, 100)
    server = Server("run", DEFS, "--input", str(events), "--state-dir", str(tmp_path / "s"), "--serve",
                    "--port", "0")
    try:
        code = server.process.wait(timeout=60)
        out = server.process.stdout.read()
    finally:
        server.stop(signal.SIGKILL)
    assert code == 0 and out.startswith("done: 1,000 messages")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()


def test_sigint_stops_serve_cleanly(login_state):
    server = Server("serve", "--state-dir", login_state[0], "--port", "0")
    try:
        code, out, err = server.stop(signal.SIGINT)
    finally:
        server.stop(signal.SIGKILL)
    assert code == 0, err
    assert out.strip() == "stopped serving"


def test_serve_errors(tmp_path, login_state, server):
    missing = subprocess.run([STATEFOLD, "serve", "--state-dir", str(tmp_path / "none"), "--port", "0"],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "no statefold state" in missing.stderr
    taken = subprocess.run([STATEFOLD, "serve", "--state-dir", login_state[0], "--port", str(server.port)],
                           capture_output=True, text=True, timeout=60)
    assert taken.returncode == 2 and "cannot listen" in taken.stderr
    unknown = subprocess.run([STATEFOLD, "serve", "--online-store", "memcached://x", "--port", "0"],
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "is neither 'embedded' nor a redis:// URL" in unknown.stderr


def test_concurrent_readers_while_the_engine_writes(tmp_path, long_input):
    """Four threads read features in a loop from `statefold serve` while `statefold run` writes
    in another process: no errors, and no value or offset ever goes backwards."""
    state_dir = str(tmp_path / "state")
    first = tmp_path / "first.jsonl"
    with open(long_input) as source, open(first, "w") as out:
        for _ in range(1000):
            out.write(source.readline())
    subprocess.run([STATEFOLD, "run", DEFS, "--input", str(first), "--state-dir", state_dir], check=True,
                   capture_output=True)
    ids = [f"u{i}" for i in range(300)]
    with Server("serve", "--state-dir", state_dir, "--port", "0") as server:
        engine = subprocess.Popen([STATEFOLD, "run", DEFS, "--input", long_input, "--state-dir", state_dir,
                                   "--checkpoint-messages", "5000"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        failures: List[str] = []
        reads = [0]
        done = threading.Event()

        def reader(seed: int) -> None:
            client = Client(url=server.url)
            rng = random.Random(seed)
            seen: Dict[str, Tuple[int, int]] = {}  # id -> (offset, count)
            try:
                while not done.is_set():
                    batch = rng.sample(ids, 5)
                    if rng.random() < 0.5:
                        found = {}
                        for id in batch:
                            try:
                                f = client.get_with_times(User, id)["user.unique_ip_count"]
                                found[id] = (f["offset"], f["value"])
                            except NotFoundError:
                                found[id] = None
                    else:
                        rows = client.query(input={User.id: batch}, output=[User.unique_ip_count],
                                            include_meta=True)
                        found = {row["user.id"]: (row["meta"]["user.unique_ip_count"]["offset"],
                                                  row["user.unique_ip_count"]) if row["meta"] else None
                                 for row in rows}
                    for id, value in found.items():
                        if value is None:
                            if id in seen:
                                failures.append(f"{id} disappeared after {seen[id]}")
                            continue
                        if id in seen and (value[0] < seen[id][0] or value[1] < seen[id][1]):
                            failures.append(f"{id} went back from {seen[id]} to {value}")
                        seen[id] = value
                    reads[0] += len(batch)
            except Exception as e:  # noqa: BLE001 (any error fails the test)
                failures.append(f"reader {seed}: {e!r}")

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        try:
            engine_out, engine_err = engine.communicate(timeout=300)
        finally:
            if engine.poll() is None:
                engine.kill()
            time.sleep(0.3)  # readers see the last checkpoint too
            done.set()
            for t in threads:
                t.join(timeout=60)
        assert engine.returncode == 0, engine_err
        assert not failures, failures[:10]
        assert reads[0] > 1000
        # Once the engine is done, the server shows exactly its result.
        local = Client(state_dir, follow=False)
        remote = Client(url=server.url)
        deadline = time.monotonic() + 10
        while remote.get_with_times(User, "u0") != local.get_with_times(User, "u0") and time.monotonic() < deadline:
            time.sleep(0.05)
        for id in ids:
            try:
                expected = local.get_with_times(User, id)
            except NotFoundError:
                continue
            assert remote.get_with_times(User, id) == expected


def test_reference_example_written_to_redis_is_served_over_http(tmp_path, login_state, redis_server):
    """The example's features written to a real redis-server by `statefold run --online-store`,
    served by `statefold serve --online-store` and read with Client(url=...): the same values,
    times and offsets as the embedded store's, and queries across both stores agree."""
    state_dir, ids = login_state
    events = tmp_path / "logins.jsonl"
    generate(events, 20000, 2000)  # the login_state fixture's input, regenerated (deterministic)
    subprocess.run([STATEFOLD, "run", DEFS, "--input", str(events), "--state-dir",
                    str(tmp_path / "state"), "--online-store", redis_server.url()],
                   check=True, capture_output=True)
    local = Client(state_dir, follow=False)
    with Server("serve", "--online-store", redis_server.url(), "--port", "0") as served:
        remote = Client(url=served.url)
        for id in ids[:300]:
            assert remote.get_with_times(User, id) == local.get_with_times(User, id)
        rows = remote.query(input={User.id: ids[:50] + ["nobody"]}, output=[User.unique_ip_count])
        assert rows == local.query(input={User.id: ids[:50] + ["nobody"]}, output=[User.unique_ip_count])
        assert rows[-1] == {"user.id": "nobody", "user.unique_ip_count": None}
