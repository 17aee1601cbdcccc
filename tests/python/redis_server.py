"""A real redis-server for the tests: Debian's /usr/bin/redis-server on a free 127.0.0.1 port,
with its own directory and an fsync-always append-only file (so a SIGKILLed server keeps every
write it acknowledged), plus a small RESP client. Stopped by PID.

    server = RedisServer(tmp_path / "redis")
    server.start()
    server.client().command("HGETALL", "statefold:user:u1")
    server.kill()     # SIGKILL
    server.start()    # the same port and directory: acknowledged writes are back
    server.stop()
"""

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

REDIS_SERVER = "/usr/bin/redis-server"


class RedisError(Exception):
    """An error reply (`-ERR ...`)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisClient:
    """Speaks RESP over one socket: enough for the tests' reads and writes."""

    def __init__(self, port: int, db: int = 0, timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""
        if db:
            self.command("SELECT", db)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RedisClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def command(self, *args: Any) -> Any:
        return self.pipeline([args])[0]

    def pipeline(self, commands: Sequence[Sequence[Any]]) -> List[Any]:
        """Sends every command, then reads every reply. Error replies raise RedisError."""
        out = bytearray()
        for args in commands:
            out += b"*%d\r\n" % len(args)
            for a in args:
                data = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(data), data)
        self.sock.sendall(out)
        replies = [self._read() for _ in commands]
        for reply in replies:
            if isinstance(reply, RedisError):
                raise reply
        return replies

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        self.buffer += chunk

    def _read(self) -> Any:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            while len(self.buffer) < size + 2:
                self._fill()
            data, self.buffer = self.buffer[:size], self.buffer[size + 2:]
            return data.decode()
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self._read() for _ in range(size)]
        raise ConnectionError(f"unexpected RESP line {line!r}")


class RedisServer:
    def __init__(self, directory: Path, port: Optional[int] = None):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.process: Optional[subprocess.Popen] = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    def start(self, timeout: float = 20.0) -> None:
        """Starts the server and waits until it answers PING; raises with the log's tail if it
        does not."""
        assert self.process is None, "already running"
        if not os.access(REDIS_SERVER, os.X_OK):
            raise RuntimeError(f"{REDIS_SERVER} is missing: run scripts/install-deps")
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
             "--logfile", str(self.log_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                stderr = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                self.process = None
                raise RuntimeError(f"redis-server exited at start-up:\n{stderr}{self._log_tail()}")
            try:
                with RedisClient(self.port, timeout=1.0) as client:
                    if client.command("PING") == "PONG":
                        return
            except (OSError, RedisError):  # not listening yet, or still loading its data
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer PING within {timeout} s:\n{self._log_tail()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final save; the append-only file holds what was acknowledged."""
        self._signal_and_wait(signal.SIGKILL)

    def stop(self) -> None:
        if self.process is not None:
            self._signal_and_wait(signal.SIGTERM)

    def _signal_and_wait(self, signum: int) -> None:
        assert self.process is not None, "not running"
        os.kill(self.process.pid, signum)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def client(self, db: int = 0) -> RedisClient:
        return RedisClient(self.port, db)

    def dump(self, db: int = 0, namespace: str = "user") -> Dict[str, Dict[str, Tuple[Any, int, int]]]:
        """Every statefold entity of `namespace` in `db`: {entity id: {feature: (value, time_ms,
        offset)}}, from the stored "<time_ms>:<offset>:<json>" values."""
        prefix = f"statefold:{namespace}:"
        with self.client(db) as client:
            keys: List[str] = []
            cursor = "0"
            while True:
                cursor, batch = client.command("SCAN", cursor, "MATCH", prefix + "*", "COUNT", 1000)
                keys.extend(batch)
                if cursor == "0":
                    break
            result = {}
            for key, flat in zip(keys, client.pipeline([("HGETALL", k) for k in keys])):
                features = {}
                for field, stored in zip(flat[::2], flat[1::2]):
                    time_ms, offset, value = stored.split(":", 2)
                    features[field] = (json.loads(value), int(time_ms), int(offset))
                result[key[len(prefix):]] = features
        return result

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"
