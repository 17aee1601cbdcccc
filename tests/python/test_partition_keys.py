"""docs/semantics.md, State: one state object per partition key, the message key or the field
named by `keys=`; a stateful resolver's message without a key is a dead letter.

`make_tester` (conftest.py) drives resolvers with statefold.testing.StreamTester: every send
appends JSON Lines records and runs the engine over the new ones, so `tester.state(...)`
decodes the state bytes the engine committed.
"""

from dataclasses import dataclass, field
from typing import Any, List

import pytest
from pydantic import BaseModel

from statefold import NotFoundError, State, stream

from semantics_defs import SOURCE, LoginEvent, User, login


@dataclass
class SeenState:
    users: List[str] = field(default_factory=list)


@stream(source=SOURCE)
def keyed_by_message_key(event: LoginEvent, state: State[SeenState]) -> None:
    state.users.append(event.user_id)


@stream(source=SOURCE, keys={"user_id": User.id})
def keyed_by_field(event: LoginEvent, state: State[SeenState]) -> None:
    state.users.append(event.ip_address)


class Inner(BaseModel):
    id: Any


class NestedEvent(BaseModel):
    user: Inner
    ip_address: str


@stream(source=SOURCE, keys={"user.id": User.id})
def keyed_by_nested_field(event: NestedEvent, state: State[SeenState]) -> None:
    state.users.append(event.ip_address)


def test_partition_key_is_message_key_by_default(make_tester):
    tester = make_tester(keyed_by_message_key)
    tester.send_many([
        login("u1", "a", key="k1"),
        login("u2", "b", key="k1"),
        login("u1", "c", key="k2"),
        login("u3", "d", key=42),  # a numeric key is its JSON text
    ])
    assert tester.state(keyed_by_message_key, "k1").users == ["u1", "u2"]
    assert tester.state(keyed_by_message_key, "k2").users == ["u1"]
    assert tester.state(keyed_by_message_key, "42").users == ["u3"]
    assert sorted(tester.state_keys(keyed_by_message_key)) == ["42", "k1", "k2"]
    with pytest.raises(NotFoundError):
        tester.state(keyed_by_message_key, "u1")


def test_partition_key_keys_rekeys_by_message_field(make_tester):
    tester = make_tester(keyed_by_field)
    tester.send_many([
        login("u1", "a", key=None),
        login("u2", "b", key=None),
        login("u1", "c", key="ignored-key"),  # keys= wins over the message key
        login("u1", "d", key=None),
    ])
    assert tester.state(keyed_by_field, "u1").users == ["a", "c", "d"]
    assert tester.state(keyed_by_field, "u2").users == ["b"]
    assert sorted(tester.state_keys(keyed_by_field)) == ["u1", "u2"]
    assert tester.dead_letters() == []


def test_partition_key_dotted_path_for_nested_field(make_tester):
    tester = make_tester(keyed_by_nested_field)
    tester.send_many([
        {"key": None, "value": {"user": {"id": "u1"}, "ip_address": "a"}},
        {"key": None, "value": {"user": {"id": "u2"}, "ip_address": "b"}},
        {"key": "x", "value": {"user": {"id": "u1"}, "ip_address": "c"}},
        {"key": None, "value": {"user": {"id": 7}, "ip_address": "e"}},
    ])
    assert tester.state(keyed_by_nested_field, "u1").users == ["a", "c"]
    assert tester.state(keyed_by_nested_field, "u2").users == ["b"]
    assert tester.state(keyed_by_nested_field, "7").users == ["e"]
    assert sorted(tester.state_keys(keyed_by_nested_field)) == ["7", "u1", "u2"]
    assert tester.dead_letters() == []


def test_partition_key_field_missing_is_dead_lettered(make_tester):
    tester = make_tester(keyed_by_nested_field)
    tester.send_many([
        {"key": None, "value": {"user": {"name": "nobody"}, "ip_address": "a"}},
        {"key": None, "value": {"user": {"id": "u1"}, "ip_address": "b"}},
    ])
    (dead,) = tester.dead_letters()
    assert dead["offset"] == 0
    assert dead["resolver"] == "keyed_by_nested_field"
    assert "user.id" in dead["error"]
    assert tester.state(keyed_by_nested_field, "u1").users == ["b"]


def test_stateful_message_without_key_is_dead_lettered(make_tester):
    tester = make_tester(keyed_by_message_key)
    tester.send_many([
        login("u1", "a"),
        {"value": {"user_id": "u9", "ip_address": "b"}},  # no "key" at all
        login("u9", "c", key=None),  # "key": null
        login("u1", "d"),
    ])
    dead = tester.dead_letters()
    assert [d["offset"] for d in dead] == [1, 2]
    for d in dead:
        assert d["resolver"] == "keyed_by_message_key"
        assert d["key"] is None
        assert "no key" in d["error"]
    # Processing continued.
    assert tester.state(keyed_by_message_key, "u1").users == ["u1", "u1"]
    tester.send(login("u1", "e")["value"], key="u1")
    assert tester.state(keyed_by_message_key, "u1").users == ["u1", "u1", "u1"]
    assert tester.state_keys(keyed_by_message_key) == ["u1"]



class MetaEvent(BaseModel):
    meta: Inner
    ip_address: str


@stream(source=SOURCE, keys={"meta.id": User.id})
def keyed_by_meta_id(event: MetaEvent, state: State[SeenState]) -> None:
    state.users.append(f"{event.meta.id}:{event.ip_address}")


def test_a_member_named_twice_on_the_key_path_is_dead_lettered_not_split(make_tester):
    # pydantic takes the last "id", the key path would have read the first: one user's state
    # changed by an event that shows another user.
    tester = make_tester(keyed_by_meta_id)
    tester.send_raw([
        '{"value": {"meta": {"id": "victim"}, "ip_address": "a"}}',
        '{"value": {"meta": {"id": "victim", "id": "attacker"}, "ip_address": "b"}}',
        '{"value": {"meta": {"id": "victim"}, "meta": {"id": "attacker"}, "ip_address": "c"}}',
        '{"value": {"meta": {"id": "victim", "i\\u0064": "attacker"}, "ip_address": "d"}}',
        '{"value": {"meta": {"i\\u0064": "victim"}, "ip_address": "e"}}',
    ])
    dead = tester.dead_letters()
    assert [d["offset"] for d in dead] == [1, 2, 3]
    assert all("more than once" in d["error"] for d in dead), dead
    assert tester.state(keyed_by_meta_id, "victim").users == ["victim:a", "victim:e"]
    assert tester.state_keys(keyed_by_meta_id) == ["victim"]


def test_state_keyed_by_a_message_field_over_a_kafka_group_is_refused_unless_one_worker(
        tmp_path, monkeypatch):
    """keys= reads a field that is not the Kafka message key: one key's messages are in
    several partitions, and several workers would split its state (issue #13). bind_sources
    refuses it, naming the resolver, the field, the group and the two ways out; with
    single_worker set the source is bound, and the engine then holds it to one worker."""
    from statefold.errors import DefinitionError
    from statefold.runtime import bind_sources

    monkeypatch.setenv("STATEFOLD_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("STATEFOLD_KAFKA_LOGINS_BOOTSTRAP_SERVER", "127.0.0.1:1")  # never dialled
    kafka = SOURCE  # KafkaSource(name="logins")

    @stream(source=kafka, keys={"user_id": User.id}, name="by_field_over_kafka")
    def by_field(event: LoginEvent, state: State[SeenState]) -> None:
        state.users.append(event.user_id)

    @stream(source=kafka, name="by_message_key_over_kafka")
    def by_key(event: LoginEvent, state: State[SeenState]) -> None:
        state.users.append(event.user_id)

    with pytest.raises(DefinitionError) as info:
        bind_sources([by_field, by_key], None, {})
    message = str(info.value)
    assert "resolver by_field_over_kafka keys its state by message field user_id" in message
    assert "consumer group statefold.by_field_over_kafka+by_message_key_over_kafka" in message
    assert "Produce the topic keyed by that field" in message
    assert "STATEFOLD_KAFKA_LOGINS_SINGLE_WORKER=1" in message
    # Keyed by the message key, or over a file: nothing to split.
    assert bind_sources([by_key], None, {})[0].single_worker is False
    assert bind_sources([by_field], str(tmp_path / "events.jsonl"), {})[0].path

    monkeypatch.setenv("STATEFOLD_KAFKA_LOGINS_SINGLE_WORKER", "1")
    assert bind_sources([by_field, by_key], None, {})[0].single_worker is True
    monkeypatch.setenv("STATEFOLD_KAFKA_LOGINS_SINGLE_WORKER", "maybe")
    with pytest.raises(DefinitionError, match="must be 1/true/yes or 0/false/no"):
        bind_sources([by_field], None, {})
    monkeypatch.delenv("STATEFOLD_KAFKA_LOGINS_SINGLE_WORKER")
    config = tmp_path / "statefold.toml"
    config.write_text("[kafka.logins]\nsingle_worker = true\n")
    monkeypatch.setenv("STATEFOLD_CONFIG", str(config))
    assert bind_sources([by_field], None, {})[0].single_worker is True
