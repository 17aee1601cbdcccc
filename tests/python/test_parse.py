"""`parse=` turns the raw payload into the event; returning None skips the message (no call,
no dead letter); raising dead-letters it."""

from dataclasses import dataclass, field
from typing import List

from statefold import FileSource, State, stream
from statefold.testing import StreamTester


@dataclass
class Log:
    lines: List[str] = field(default_factory=list)


def parse_line(payload: bytes):
    text = payload.decode()
    if text.startswith("#"):
        return None
    if text == "bad":
        raise ValueError("unparseable line")
    return text.upper()


@stream(source=FileSource(name="lines"), parse=parse_line)
def collect(event: str, state: State[Log]) -> None:
    state.lines.append(event)


def test_parse_transforms_skips_and_rejects(tmp_path):
    tester = StreamTester(collect, state_dir=str(tmp_path))
    tester.send_many([{"key": "k", "value": v} for v in ["a", "# comment", "bad", "b"]])
    assert tester.state(collect, "k") == Log(lines=["A", "B"])
    dead = tester.dead_letters()
    assert [d["offset"] for d in dead] == [2]
    assert "unparseable line" in dead[0]["error"]
