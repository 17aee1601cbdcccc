"""`statefold.testing`: drive resolvers through the real engine inside a pytest test.

    tester = StreamTester(track_unique_ips)
    tester.send({"user_id": "u1", "ip_address": "10.0.0.1"}, key="u1")
    assert tester.features(User, "u1")["user.unique_ip_count"] == 1
    assert tester.state(track_unique_ips, "u1").unique_ips == {"10.0.0.1"}

Each send appends records to a JSON Lines file per source and runs the engine over the new
records, with a state directory in a temporary folder: decoding, keys, state, checkpoints and
dead letters are the engine's own, exactly as in `statefold run`.
"""

import datetime
import json
import os
import shutil
import tempfile
from typing import Any, Dict, Iterable, List, Optional, Union

from .client import Client
from .options import engine_options as checked_engine_options
from .runtime import check_unique_names, file_source, run
from .streams import StreamResolver


class StreamTester:
    def __init__(self, *resolvers: StreamResolver, state_dir: Optional[str] = None, **options: Any):
        """`options` are engine options (batch_size=..., see runtime.engine_options); a name
        that is not one raises TypeError naming the closest, and a value out of range
        InvalidArgumentError, here, before anything runs."""
        check_unique_names(resolvers)
        self.options = checked_engine_options("StreamTester()", options)
        self.resolvers = list(resolvers)
        self._temporary = state_dir is None
        self.directory = tempfile.mkdtemp(prefix="statefold-test-") if state_dir is None else state_dir
        os.makedirs(self.directory, exist_ok=True)
        self.state_dir = os.path.join(self.directory, "state")
        self.options.state_dir = self.state_dir
        self.client = Client(self.state_dir)
        self.outputs: List[Dict[str, Any]] = []
        self.last_run: Dict[str, Any] = {}
        self._sources = list(dict.fromkeys(r.source_name for r in self.resolvers))

    def _path(self, source: str) -> str:
        return os.path.join(self.directory, f"{source}.jsonl")

    def send(self, value: Any, key: Optional[str] = None, timestamp: Any = None,
             source: Optional[str] = None) -> List[Dict[str, Any]]:
        """Sends one message and returns the feature values it produced."""
        return self.send_many([{"key": key, "value": value, "timestamp": timestamp}], source=source)

    def send_raw(self, lines: Iterable[Union[str, bytes]], source: Optional[str] = None) -> List[Dict[str, Any]]:
        """Sends raw JSON Lines records (bytes are written as they are, for bad-input tests)."""
        name = self._source(source)
        with open(self._path(name), "ab") as f:
            for line in lines:
                f.write((line.encode() if isinstance(line, str) else line) + b"\n")
        return self._run()

    def send_many(self, records: Iterable[Dict[str, Any]], source: Optional[str] = None) -> List[Dict[str, Any]]:
        """Sends records {"key", "value", "timestamp"} and returns the feature values produced."""
        lines = []
        for r in records:
            record = {"key": r.get("key"), "value": r["value"]}
            timestamp = r.get("timestamp")
            if isinstance(timestamp, datetime.datetime):
                timestamp = timestamp.isoformat()
            if timestamp is not None:
                record["timestamp"] = timestamp
            lines.append(json.dumps(record))
        return self.send_raw(lines, source)

    def _source(self, source: Optional[str]) -> str:
        if source is None:
            if len(self._sources) != 1:
                raise ValueError(f"several sources ({', '.join(self._sources)}): pass source=")
            return self._sources[0]
        return source

    def _run(self) -> List[Dict[str, Any]]:
        produced: List[Dict[str, Any]] = []

        def on_feature(ns: str, entity: str, feature: str, value: str, time_ms: int, offset: int) -> None:
            produced.append({"feature": f"{ns}.{feature}", "entity": entity,
                             "value": json.loads(value), "time_ms": time_ms, "offset": offset})

        sources = []
        for name in self._sources:
            path = self._path(name)
            if not os.path.exists(path):
                open(path, "ab").close()
            sources.append(file_source(name, path))
        self.last_run = run(self.resolvers, sources, self.options, on_feature)
        self.outputs.extend(produced)
        return produced

    def features(self, entity: Any, id: Any) -> Dict[str, Any]:
        return self.client.get(entity, id)

    def state(self, resolver: StreamResolver, key: str) -> Any:
        """The committed state object of `key`."""
        return self.client.state(resolver, key)

    def state_keys(self, resolver: StreamResolver) -> List[str]:
        return self.client.state_keys(resolver)

    def dead_letters(self) -> List[Dict[str, Any]]:
        return self.client.dead_letters()

    def close(self) -> None:
        if self._temporary:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "StreamTester":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
