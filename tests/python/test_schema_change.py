"""A resolver whose state schema changed under stored state stops with an error that says how
to go on, instead of misreading the stored bytes."""

import dataclasses
from typing import List, Set

import pytest

from statefold import FileSource, State, StatefoldError, stream
from statefold.testing import StreamTester

SOURCE = FileSource(name="events")


@dataclasses.dataclass
class Before:
    seen: Set[str] = dataclasses.field(default_factory=set)


@dataclasses.dataclass
class After:
    seen: Set[str] = dataclasses.field(default_factory=set)
    total: int = 0


@dataclasses.dataclass
class Renamed:
    seen: List[str] = dataclasses.field(default_factory=list)


@stream(source=SOURCE, name="tracker")
def track_before(event: dict, state: State[Before]) -> None:
    state.seen.add(event["x"])


@stream(source=SOURCE, name="tracker")
def track_after(event: dict, state: State[After]) -> None:
    state.seen.add(event["x"])
    state.total += 1


def test_schema_change_with_stored_state_is_an_error_naming_reset(tmp_path):
    StreamTester(track_before, state_dir=str(tmp_path)).send({"x": "a"}, key="k")
    changed = StreamTester(track_after, state_dir=str(tmp_path))
    with pytest.raises(StatefoldError, match=r"state schema of resolver tracker changed.*statefold state reset tracker"):
        changed.send({"x": "b"}, key="k")
    changed.client.reset_state("tracker")
    # The refused run committed nothing, so "b" is processed now, on a fresh state.
    changed.send({"x": "c"}, key="k")
    assert changed.state(track_after, "k") == After(seen={"b", "c"}, total=2)


@stream(source=SOURCE, name="tracker")
def track_renamed(event: dict, state: State[Renamed]) -> None:
    state.seen.append(event["x"])


def test_schema_change_error_names_the_change_and_that_the_remedies_lose_history(tmp_path):
    StreamTester(track_before, state_dir=str(tmp_path)).send({"x": "a"}, key="k")
    for resolver, change in [(track_after, "field total added (int)"),
                             (track_renamed, "field seen: set[str] \u2192 list[str]")]:
        with pytest.raises(StatefoldError) as raised:
            StreamTester(resolver, state_dir=str(tmp_path)).send({"x": "b"}, key="k")
        message = str(raised.value)
        assert "stored states were written (the state type Before \u2192 " in message, message
        assert f"; {change})" in message, message
        assert ("`statefold state reset tracker` or a new resolver name would go on, but both lose "
                "the history before the current input position") in message, message
        assert "run the whole input again into a new state directory" in message, message
