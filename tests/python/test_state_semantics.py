"""Run-time rules of stateful stream resolvers, pinned through the real engine.

`make_tester` (conftest.py) drives resolvers with statefold.testing.StreamTester: every send
appends JSON Lines records and runs the engine over the new ones, so `tester.state(...)`
decodes the state bytes the engine committed. CLI rules call `.venv/bin/statefold`.
"""

import dataclasses
import datetime
import enum
import json
import random
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, List, Optional, Set, Tuple

import pydantic
import pydantic.v1
import pytest
from pydantic import BaseModel

import statefold
from statefold import Client, Features, KafkaSource, NotFoundError, State, features, stream
from statefold.runtime import load_definitions

from conftest import LOGIN_DEFS

SOURCE = KafkaSource(name="logins")


class LoginEvent(BaseModel):
    user_id: str
    ip_address: str


class SeqEvent(BaseModel):
    user_id: str
    seq: int
    kind: str = "login"
    bad: bool = False


@features
class User:
    id: str
    unique_ip_count: int


@features
class Device:
    id: str
    seen: int
    label: Optional[str]
    extra: int


def login(user: str, ip: str, key: Any = "same", timestamp: Any = None) -> Dict[str, Any]:
    """A login record; the message key is the user unless given."""
    record = {"key": user if key == "same" else key, "value": {"user_id": user, "ip_address": ip}}
    if timestamp is not None:
        record["timestamp"] = timestamp
    return record


def dead_letter_offsets(tester) -> List[int]:
    return sorted(d["offset"] for d in tester.dead_letters())


# =============================================================================================
# Initial state
# =============================================================================================


@dataclass
class NestedState:
    by_kind: Dict[str, List[int]]
    tags: List[str]


DEFAULT_NESTED = NestedState(by_kind={"seen": [0]}, tags=["init"])


@stream(source=SOURCE)
def nested_default(event: SeqEvent, state: State[NestedState] = DEFAULT_NESTED) -> None:
    state.by_kind["seen"].append(event.seq)
    state.by_kind.setdefault(event.kind, []).append(event.seq)
    state.tags.append(f"{event.user_id}:{event.seq}")


def test_initial_state_is_default_deep_copied_per_key(make_tester):
    tester = make_tester(nested_default)
    # u1 and u2 first appear in the same run, interleaved: a shared object would mix them.
    tester.send_many([
        {"key": "u1", "value": {"user_id": "u1", "seq": 1}},
        {"key": "u2", "value": {"user_id": "u2", "seq": 2, "kind": "logout"}},
        {"key": "u1", "value": {"user_id": "u1", "seq": 3}},
    ])
    # u3 first appears in a later run, after u1 and u2 were committed.
    tester.send({"user_id": "u3", "seq": 4}, key="u3")
    tester.send({"user_id": "u1", "seq": 5, "kind": "logout"}, key="u1")

    assert tester.state(nested_default, "u1") == NestedState(
        by_kind={"seen": [0, 1, 3, 5], "login": [1, 3], "logout": [5]},
        tags=["init", "u1:1", "u1:3", "u1:5"],
    )
    assert tester.state(nested_default, "u2") == NestedState(
        by_kind={"seen": [0, 2], "logout": [2]}, tags=["init", "u2:2"]
    )
    assert tester.state(nested_default, "u3") == NestedState(
        by_kind={"seen": [0, 4], "login": [4]}, tags=["init", "u3:4"]
    )
    # The default object itself is never handed to the resolver.
    assert DEFAULT_NESTED == NestedState(by_kind={"seen": [0]}, tags=["init"])
    assert tester.dead_letters() == []


@dataclass
class FactoryState:
    unique_ips: Set[str] = field(default_factory=set)
    count: int = 0


class FactoryModel(BaseModel):
    unique_ips: Set[str] = set()
    count: int = 0


@stream(source=SOURCE)
def constructor_default_dataclass(event: LoginEvent, state: State[FactoryState]) -> None:
    state.unique_ips.add(event.ip_address)
    state.count += 1


@stream(source=SOURCE)
def constructor_default_model(event: LoginEvent, state: State[FactoryModel]) -> None:
    state.unique_ips.add(event.ip_address)
    state.count += 1


@pytest.mark.parametrize("resolver, cls", [
    (constructor_default_dataclass, FactoryState),
    (constructor_default_model, FactoryModel),
], ids=["dataclass", "pydantic"])
def test_initial_state_else_zero_argument_constructor(make_tester, resolver, cls):
    tester = make_tester(resolver)
    tester.send_many([login("u1", "10.0.0.1"), login("u2", "10.0.0.9"), login("u1", "10.0.0.2")])
    tester.send_many([login("u1", "10.0.0.1"), login("u3", "10.0.0.3")])
    u1 = tester.state(resolver, "u1")
    assert type(u1) is cls
    assert (u1.unique_ips, u1.count) == ({"10.0.0.1", "10.0.0.2"}, 3)
    u2 = tester.state(resolver, "u2")
    assert (u2.unique_ips, u2.count) == ({"10.0.0.9"}, 1)
    u3 = tester.state(resolver, "u3")
    assert (u3.unique_ips, u3.count) == ({"10.0.0.3"}, 1)


# =============================================================================================
# State types: dataclass, pydantic v2, pydantic v1
# =============================================================================================


@dataclass
class DataclassLoginState:
    unique_ips: Set[str] = field(default_factory=set)
    last_ip: Optional[str] = None


class V2LoginState(BaseModel):
    unique_ips: Set[str] = set()
    last_ip: Optional[str] = None


class V1LoginState(pydantic.v1.BaseModel):
    unique_ips: Set[str] = set()
    last_ip: Optional[str] = None


def _login_state_resolver(cls, name):
    @stream(source=SOURCE, name=name)
    def resolver(event: LoginEvent, state: State[cls]) -> Features[User.id, User.unique_ip_count]:
        state.unique_ips.add(event.ip_address)
        state.last_ip = event.ip_address
        return User(id=event.user_id, unique_ip_count=len(state.unique_ips))

    return resolver


STATE_TYPE_RESOLVERS = {
    "dataclass": (_login_state_resolver(DataclassLoginState, "ips_dataclass"), DataclassLoginState),
    "pydantic_v2": (_login_state_resolver(V2LoginState, "ips_pydantic_v2"), V2LoginState),
    "pydantic_v1": (_login_state_resolver(V1LoginState, "ips_pydantic_v1"), V1LoginState),
}


@pytest.mark.parametrize("flavor", list(STATE_TYPE_RESOLVERS))
def test_state_types_work_end_to_end(make_tester, flavor):
    resolver, cls = STATE_TYPE_RESOLVERS[flavor]
    tester = make_tester(resolver)
    tester.send_many([login("u1", "10.0.0.1"), login("u2", "10.0.0.5"), login("u1", "10.0.0.2")])
    # A second run decodes the committed state and keeps updating it.
    tester.send_many([login("u1", "10.0.0.1"), login("u1", "10.0.0.3")])

    u1 = tester.state(resolver, "u1")
    assert type(u1) is cls
    assert u1.unique_ips == {"10.0.0.1", "10.0.0.2", "10.0.0.3"}
    assert u1.last_ip == "10.0.0.3"
    u2 = tester.state(resolver, "u2")
    assert (u2.unique_ips, u2.last_ip) == ({"10.0.0.5"}, "10.0.0.5")
    assert tester.features(User, "u1") == {"user.id": "u1", "user.unique_ip_count": 3}
    assert tester.features(User, "u2") == {"user.id": "u2", "user.unique_ip_count": 1}
    # The JSON view of the same committed bytes.
    as_json = tester.client.state(resolver.name, "u1")
    assert sorted(as_json["unique_ips"]) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert as_json["last_ip"] == "10.0.0.3"
    assert sorted(tester.state_keys(resolver)) == ["u1", "u2"]
    assert tester.dead_letters() == []


# =============================================================================================
# Field types round trip through the store
# =============================================================================================


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Level(enum.Enum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3


@dataclass
class DCNested:
    x: int = 0
    label: Optional[str] = None


class V2Nested(BaseModel):
    x: int = 0
    label: Optional[str] = None


class V1Nested(pydantic.v1.BaseModel):
    x: int = 0
    label: Optional[str] = None


NAIVE_START = datetime.datetime(2000, 1, 1)
AWARE_START = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)


def _all_types_fields(nested):
    """(name, annotation, default) of the all-types state, with the given nested record."""
    return [
        ("s", str, ""),
        ("i", int, 0),
        ("f", float, 0.0),
        ("b", bool, False),
        ("raw", bytes, b""),
        ("naive", datetime.datetime, NAIVE_START),
        ("aware", datetime.datetime, AWARE_START),
        ("maybe", Optional[int], None),
        ("items", List[str], []),
        ("tags", Set[str], set()),
        ("frozen", FrozenSet[int], frozenset()),
        ("var", Tuple[int, ...], ()),
        ("pair", Tuple[str, int], ("", 0)),
        ("groups", Dict[str, List[int]], {}),
        ("color", Color, Color.RED),
        ("level", Level, Level.LOW),
        ("nested", nested, nested()),
        ("nested_list", List[nested], []),
    ]


def _make_dataclass_state():
    return dataclasses.make_dataclass(
        "AllTypesDataclass",
        [(n, a, field(default_factory=lambda d=d: __import__("copy").deepcopy(d)))
         for n, a, d in _all_types_fields(DCNested)],
    )


AllTypesDataclass = _make_dataclass_state()
AllTypesV2 = pydantic.create_model(
    "AllTypesV2", **{n: (a, d) for n, a, d in _all_types_fields(V2Nested)})
AllTypesV1 = pydantic.v1.create_model(
    "AllTypesV1", **{n: (a, d) for n, a, d in _all_types_fields(V1Nested)})


def _apply_all_types(state: Any, event: Dict[str, Any], nested_cls: Any) -> None:
    """Sets every field from the event, building on the previous (decoded) value."""
    state.s = state.s + event["s"]
    state.i = state.i + event["i"]
    state.f = state.f + event["f"]
    state.b = not state.b
    state.raw = state.raw + event["s"].encode("utf-8")
    state.naive = datetime.datetime.fromisoformat(event["naive"])
    state.aware = datetime.datetime.fromisoformat(event["aware"])
    state.maybe = event["maybe"]
    state.items.append(event["s"])
    state.tags.add(event["s"])
    state.frozen = state.frozen | {event["i"]}
    state.var = state.var + (event["i"],)
    state.pair = (event["s"], event["i"])
    state.groups.setdefault(event["s"], []).append(event["i"])
    state.color = Color(event["color"])
    state.level = Level(event["level"])
    state.nested.x += event["i"]
    state.nested.label = event["maybe_label"]
    state.nested_list.append(nested_cls(x=event["i"], label=event["maybe_label"]))


def _all_types_resolver(cls, nested_cls, name):
    @stream(source=SOURCE, name=name)
    def resolver(event: dict, state: State[cls]) -> None:
        _apply_all_types(state, event, nested_cls)

    return resolver


ALL_TYPES = {
    "dataclass": (_all_types_resolver(AllTypesDataclass, DCNested, "all_types_dataclass"),
                  AllTypesDataclass, DCNested),
    "pydantic_v2": (_all_types_resolver(AllTypesV2, V2Nested, "all_types_pydantic_v2"),
                    AllTypesV2, V2Nested),
    "pydantic_v1": (_all_types_resolver(AllTypesV1, V1Nested, "all_types_pydantic_v1"),
                    AllTypesV1, V1Nested),
}

ALL_TYPES_EVENTS = [
    {"s": "alpha", "i": 3, "f": 0.25, "naive": "2024-02-29T23:59:58.123456",
     "aware": "2024-03-01T10:00:00.5+05:30", "maybe": 7, "color": "green", "level": 3,
     "maybe_label": "first"},
    {"s": "béta✓", "i": -9007199254740993, "f": -1.5e300, "naive": "1969-07-20T20:17:40",
     "aware": "1969-12-31T16:00:00-08:00", "maybe": None, "color": "blue", "level": 2,
     "maybe_label": None},
    {"s": "alpha", "i": 5, "f": 1e-3, "naive": "2038-01-19T03:14:08.000001",
     "aware": "2038-01-19T03:14:08.999999+00:00", "maybe": 0, "color": "green", "level": 1,
     "maybe_label": ""},
]


def _expected_all_types(cls, nested_cls, events):
    expected = cls()
    for event in events:
        _apply_all_types(expected, event, nested_cls)
    return expected


def _assert_same_value(actual, expected, path="state"):
    """Equality plus exact types (set vs frozenset, tuple vs list, enum members, tz offsets)."""
    assert type(actual) is type(expected), f"{path}: {type(actual)} is not {type(expected)}"
    if isinstance(expected, datetime.datetime):
        assert actual == expected, path
        assert actual.utcoffset() == expected.utcoffset(), f"{path}: tz offset"
        assert actual.replace(tzinfo=None) == expected.replace(tzinfo=None), f"{path}: wall clock"
    elif isinstance(expected, enum.Enum):
        assert actual is expected, path
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), path
        for n, (a, e) in enumerate(zip(actual, expected)):
            _assert_same_value(a, e, f"{path}[{n}]")
    elif isinstance(expected, dict):
        assert set(actual) == set(expected), path
        for k in expected:
            _assert_same_value(actual[k], expected[k], f"{path}[{k!r}]")
    elif isinstance(expected, (set, frozenset)):
        assert actual == expected, path
    elif dataclasses.is_dataclass(expected) or isinstance(expected, (BaseModel, pydantic.v1.BaseModel)):
        names = ([f.name for f in dataclasses.fields(expected)] if dataclasses.is_dataclass(expected)
                 else list(type(expected).model_fields) if isinstance(expected, BaseModel)
                 else list(type(expected).__fields__))
        for name in names:
            _assert_same_value(getattr(actual, name), getattr(expected, name), f"{path}.{name}")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


@pytest.mark.parametrize("flavor", list(ALL_TYPES))
def test_field_types_round_trip(make_tester, flavor):
    resolver, cls, nested_cls = ALL_TYPES[flavor]
    tester = make_tester(resolver)
    # One run per message: each message starts from the state decoded from the store.
    for n, event in enumerate(ALL_TYPES_EVENTS, 1):
        tester.send(event, key="k")
        assert tester.dead_letters() == []
        _assert_same_value(tester.state(resolver, "k"),
                           _expected_all_types(cls, nested_cls, ALL_TYPES_EVENTS[:n]))
    # And all in one run, for a second key.
    tester.send_many([{"key": "k2", "value": e} for e in ALL_TYPES_EVENTS])
    _assert_same_value(tester.state(resolver, "k2"), _expected_all_types(cls, nested_cls, ALL_TYPES_EVENTS))
    assert tester.dead_letters() == []


def test_field_types_json_view(make_tester):
    resolver, cls, nested_cls = ALL_TYPES["dataclass"]
    tester = make_tester(resolver)
    tester.send(ALL_TYPES_EVENTS[0], key="k")
    view = tester.client.state(resolver.name, "k")
    assert view["s"] == "alpha"
    assert view["i"] == 3
    assert view["f"] == 0.25
    assert view["b"] is True
    assert view["maybe"] == 7
    assert view["items"] == ["alpha"]
    assert view["tags"] == ["alpha"]
    assert view["frozen"] == [3]
    assert view["var"] == [3]
    assert view["pair"] == ["alpha", 3]
    assert view["groups"] == {"alpha": [3]}
    assert view["color"] == "green"
    assert view["level"] == 3
    assert view["nested"] == {"x": 3, "label": "first"}
    assert view["nested_list"] == [{"x": 3, "label": "first"}]


# =============================================================================================
# Updates are mutations, saved after return, applied per key in offset order
# =============================================================================================


@dataclass
class SeqState:
    seqs: List[int] = field(default_factory=list)


@features
class Stream:
    id: str
    last_seq: int
    count: int


@stream(source=SOURCE)
def append_seq(event: SeqEvent, state: State[SeqState]) -> Features[Stream.id, Stream.last_seq, Stream.count]:
    state.seqs.append(event.seq)
    if event.bad:
        raise ValueError(f"bad event {event.seq} for {event.user_id}")
    return Stream(id=event.user_id, last_seq=event.seq, count=len(state.seqs))


def _seq_records(count: int, keys: int, seed: int, start: int = 0):
    rng = random.Random(seed)
    return [{"key": f"k{rng.randrange(keys)}", "value": None, "seq": start + n} for n in range(count)]


def _fill(records, bad=()):
    for r in records:
        r["value"] = {"user_id": r["key"], "seq": r["seq"], "bad": r["seq"] in bad}
    return records


@pytest.mark.parametrize("options", [
    {},
    {"batch_size": 7, "checkpoint_every_messages": 25},
    {"batch_size": 1},
], ids=["defaults", "small-batches-and-epochs", "batch-of-one"])
def test_updates_visible_to_next_message_in_offset_order(make_tester, options):
    tester = make_tester(append_seq, **options)
    records = _fill(_seq_records(400, keys=9, seed=7))
    expected: Dict[str, List[int]] = {}
    for chunk in (records[:1], records[1:90], records[90:91], records[91:250], records[250:]):
        tester.send_many(chunk)
        for r in chunk:
            expected.setdefault(r["key"], []).append(r["seq"])
        for key, seqs in expected.items():
            assert tester.state(append_seq, key).seqs == seqs, key
    for key, seqs in expected.items():
        assert tester.features(Stream, key) == {
            "stream.id": key, "stream.last_seq": seqs[-1], "stream.count": len(seqs)}
    assert sorted(tester.state_keys(append_seq)) == sorted(expected)
    assert tester.dead_letters() == []


# =============================================================================================
# Partition key
# =============================================================================================


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


# =============================================================================================
# A resolver that raises leaves no trace in state
# =============================================================================================


@dataclass
class IpState:
    unique_ips: Set[str] = field(default_factory=set)
    history: List[str] = field(default_factory=list)


@stream(source=SOURCE)
def raises_on_bad(event: LoginEvent, state: State[IpState]) -> Features[User.id, User.unique_ip_count]:
    state.unique_ips.add(event.ip_address)
    state.history.append(event.ip_address)
    if event.ip_address == "bad":
        raise RuntimeError(f"refusing ip {event.ip_address} of {event.user_id}")
    return User(id=event.user_id, unique_ip_count=len(state.unique_ips))


def test_raising_resolver_leaves_state_as_before(make_tester):
    tester = make_tester(raises_on_bad)
    tester.send_many([login("u1", "a"), login("u2", "x"), login("u1", "b")])
    tester.send_many([
        login("u1", "c"),       # offset 3: applied before the failure, kept
        login("u1", "bad"),     # offset 4: raises after mutating
        login("u2", "y"),       # offset 5
        login("u1", "d"),       # offset 6: sees the state without "bad"
    ])
    tester.send_many([login("u1", "e"), login("u3", "bad"), login("u3", "z")])

    u1 = tester.state(raises_on_bad, "u1")
    assert u1.unique_ips == {"a", "b", "c", "d", "e"}
    assert u1.history == ["a", "b", "c", "d", "e"]
    u2 = tester.state(raises_on_bad, "u2")
    assert (u2.unique_ips, u2.history) == ({"x", "y"}, ["x", "y"])
    # u3's first message failed: its state starts from the initial state.
    u3 = tester.state(raises_on_bad, "u3")
    assert (u3.unique_ips, u3.history) == ({"z"}, ["z"])
    assert tester.features(User, "u1") == {"user.id": "u1", "user.unique_ip_count": 5}
    assert tester.features(User, "u3") == {"user.id": "u3", "user.unique_ip_count": 1}

    dead = tester.dead_letters()
    assert [(d["offset"], d["key"], d["resolver"]) for d in dead] == [
        (4, "u1", "raises_on_bad"), (8, "u3", "raises_on_bad")]
    error = dead[0]["error"]
    assert error.startswith("Traceback (most recent call last):")
    assert "RuntimeError: refusing ip bad of u1" in error
    assert "test_state_semantics.py" in error
    assert json.loads(dead[0]["value"]) == {"user_id": "u1", "ip_address": "bad"}
    assert dead[0]["source"] == "logins"


def test_raising_resolver_only_key_never_gets_state(make_tester):
    tester = make_tester(raises_on_bad)
    tester.send_many([login("u1", "bad"), login("u2", "a")])
    with pytest.raises(NotFoundError):
        tester.state(raises_on_bad, "u1")
    assert tester.state_keys(raises_on_bad) == ["u2"]
    with pytest.raises(NotFoundError):
        tester.features(User, "u1")


@pytest.mark.parametrize("options", [{}, {"batch_size": 8}, {"batch_size": 3, "checkpoint_every_messages": 10}],
                         ids=["defaults", "batch-8", "batch-3-epoch-10"])
def test_raise_in_middle_of_batch_other_keys_exact(make_tester, options):
    tester = make_tester(append_seq, **options)
    first = _fill(_seq_records(20, keys=5, seed=3))
    tester.send_many(first)
    batch = _seq_records(50, keys=5, seed=11, start=20)
    # Failures in the middle, including two for one key and back-to-back ones.
    bad_seqs = {batch[7]["seq"], batch[23]["seq"], batch[24]["seq"], batch[31]["seq"]}
    tester.send_many(_fill(batch, bad=bad_seqs))

    expected: Dict[str, List[int]] = {}
    for r in first + batch:
        if r["seq"] not in bad_seqs:
            expected.setdefault(r["key"], []).append(r["seq"])
    for key, seqs in expected.items():
        assert tester.state(append_seq, key).seqs == seqs, key
        assert tester.features(Stream, key) == {
            "stream.id": key, "stream.last_seq": seqs[-1], "stream.count": len(seqs)}, key
    dead = tester.dead_letters()
    assert sorted(d["offset"] for d in dead) == sorted(bad_seqs)
    for d in dead:
        assert d["resolver"] == "append_seq"
        assert f"ValueError: bad event {d['offset']} for {d['key']}" in d["error"]


# =============================================================================================
# A resolver that leaves the state not fitting its schema
# =============================================================================================


@stream(source=SOURCE)
def breaks_schema(event: LoginEvent, state: State[IpState]) -> Features[User.id, User.unique_ip_count]:
    if event.ip_address == "five":
        state.unique_ips = 5
        return User(id=event.user_id, unique_ip_count=99)
    if event.ip_address.startswith("reset:"):
        state.unique_ips = {event.ip_address}
        state.history = [event.ip_address]
        return User(id=event.user_id, unique_ip_count=1)
    state.unique_ips.add(event.ip_address)
    state.history.append(event.ip_address)
    return User(id=event.user_id, unique_ip_count=len(state.unique_ips))


def _assert_schema_dead_letter(dead, offset, key):
    assert dead["offset"] == offset
    assert dead["key"] == key
    assert dead["resolver"] == "breaks_schema"
    assert "unique_ips" in dead["error"]
    assert "expected set[str]" in dead["error"]


def test_state_not_fitting_schema_is_dead_lettered(make_tester):
    tester = make_tester(breaks_schema)
    tester.send_many([login("u1", "a"), login("u2", "b")])
    tester.send_many([login("u1", "five"), login("u2", "c")])
    (dead,) = tester.dead_letters()
    _assert_schema_dead_letter(dead, 2, "u1")
    u1 = tester.state(breaks_schema, "u1")
    assert (u1.unique_ips, u1.history) == ({"a"}, ["a"])
    u2 = tester.state(breaks_schema, "u2")
    assert (u2.unique_ips, u2.history) == ({"b", "c"}, ["b", "c"])
    tester.send(login("u1", "d")["value"], key="u1")
    u1 = tester.state(breaks_schema, "u1")
    assert (u1.unique_ips, u1.history) == ({"a", "d"}, ["a", "d"])
    assert len(tester.dead_letters()) == 1


def test_state_not_fitting_schema_later_messages_of_same_key_in_same_run(make_tester):
    tester = make_tester(breaks_schema)
    tester.send_many([login("u1", "a")])
    tester.send_many([
        login("u1", "five"),  # offset 1: leaves unique_ips = 5
        login("u2", "x"),
        login("u1", "b"),     # offset 3: must see the state without message 1's change
        login("u1", "c"),
    ])
    dead = tester.dead_letters()
    assert len(dead) == 1, dead
    _assert_schema_dead_letter(dead[0], 1, "u1")
    u1 = tester.state(breaks_schema, "u1")
    assert (u1.unique_ips, u1.history) == ({"a", "b", "c"}, ["a", "b", "c"])
    assert tester.features(User, "u1") == {"user.id": "u1", "user.unique_ip_count": 3}
    assert tester.state(breaks_schema, "u2").history == ["x"]


def test_state_not_fitting_schema_writes_no_outputs(make_tester):
    tester = make_tester(breaks_schema)
    tester.send(login("u1", "a")["value"], key="u1", timestamp=1_000)
    produced = tester.send(login("u1", "five")["value"], key="u1", timestamp=2_000)
    assert produced == []
    assert tester.client.get_with_times(User, "u1") == {
        "user.id": {"value": "u1", "time_ms": 1_000, "offset": 0},
        "user.unique_ip_count": {"value": 1, "time_ms": 1_000, "offset": 0},
    }


def test_state_not_fitting_schema_detected_even_if_later_message_repairs_it(make_tester):
    tester = make_tester(breaks_schema)
    tester.send_many([login("u1", "a")])
    tester.send_many([login("u1", "five"), login("u1", "reset:r")])
    dead = tester.dead_letters()
    assert len(dead) == 1, dead
    _assert_schema_dead_letter(dead[0], 1, "u1")
    u1 = tester.state(breaks_schema, "u1")
    assert (u1.unique_ips, u1.history) == ({"reset:r"}, ["reset:r"])


@dataclass
class TypedState:
    count: int = 0
    names: List[str] = field(default_factory=list)


class ValueEvent(BaseModel):
    mode: str


@stream(source=SOURCE)
def assigns_bad_values(event: ValueEvent, state: State[TypedState]) -> None:
    if event.mode == "ok":
        state.count += 1
        state.names.append(f"n{state.count}")
    elif event.mode == "huge":
        state.count = 2 ** 70
    elif event.mode == "str":
        state.count = "3"
    elif event.mode == "none":
        state.count = None
    elif event.mode == "float":
        state.count = 1.5
    elif event.mode == "nested":
        state.names.append(5)
    elif event.mode == "tuple":
        state.names = ("a", "b")


@pytest.mark.parametrize("mode, path", [
    ("huge", "count"), ("str", "count"), ("none", "count"), ("float", "count"),
    ("nested", "names[1]"), ("tuple", "names"),
])
def test_state_not_fitting_schema_values(make_tester, mode, path):
    tester = make_tester(assigns_bad_values)
    tester.send({"mode": "ok"}, key="k")
    tester.send({"mode": mode}, key="k")
    (dead,) = tester.dead_letters()
    assert dead["offset"] == 1
    assert dead["resolver"] == "assigns_bad_values"
    assert f"field {path}:" in dead["error"], dead["error"]
    assert tester.state(assigns_bad_values, "k") == TypedState(count=1, names=["n1"])
    tester.send({"mode": "ok"}, key="k")
    assert tester.state(assigns_bad_values, "k") == TypedState(count=2, names=["n1", "n2"])


# =============================================================================================
# Bad input is dead-lettered and never stops the engine
# =============================================================================================


@stream(source=SOURCE)
def counts_ips(event: LoginEvent, state: State[IpState]) -> Features[User.id, User.unique_ip_count]:
    state.unique_ips.add(event.ip_address)
    state.history.append(event.ip_address)
    return User(id=event.user_id, unique_ip_count=len(state.unique_ips))


def _good(user: str, ip: str) -> str:
    return json.dumps(login(user, ip))


BAD_INPUTS = {
    # name: (raw line, text the dead letter's error must contain)
    "malformed_json": ('{"key": "u1", "value": {"user_id": "u1", "ip_address": ', "not valid JSON"),
    "not_an_object": ("this is not json", "record is not"),
    "trailing_text": ('{"key": "u1", "value": {"user_id": "u1", "ip_address": "z"}} trailing', "not valid JSON"),
    "trailing_brace": ('{"key": "u1", "value": {"user_id": "u1", "ip_address": "z"}} }', "not valid JSON"),
    "two_records_on_one_line": ('{"key": "u1", "value": {"user_id": "u1", "ip_address": "y"}} '
                                '{"key": "u2", "value": {"user_id": "u2", "ip_address": "z"}}', "not valid JSON"),
    "missing_field": ('{"key": "u1", "value": {"user_id": "u1"}}', "ip_address"),
    "wrong_type": ('{"key": "u1", "value": {"user_id": "u1", "ip_address": 5}}', "ip_address"),
    "value_not_json": ('{"key": "u1", "value": "not json at all"}', "does not decode into the event type"),
    "non_utf8": (b'{"key": "u1", "value": {"user_id": "u1", "ip_address": "\xff\xfe"}}', "UTF-8"),
    "oversized": (json.dumps(login("u1", "x" * 300)), "exceeds the limit of 200 bytes"),
    "no_value": ('{"key": "u1", "timestamp": 5}', '"value"'),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_dead_lettered(make_tester, case):
    line, error_text = BAD_INPUTS[case]
    tester = make_tester(counts_ips, max_message_bytes=200)
    tester.send_raw([_good("u1", "a"), line, _good("u1", "b"), _good("u2", "c")])
    dead = tester.dead_letters()
    assert len(dead) == 1, dead
    assert dead[0]["offset"] == 1
    assert dead[0]["source"] == "logins"
    assert error_text in dead[0]["error"], dead[0]["error"]
    assert tester.state(counts_ips, "u1").history == ["a", "b"]
    assert tester.state(counts_ips, "u2").history == ["c"]
    assert tester.features(User, "u1") == {"user.id": "u1", "user.unique_ip_count": 2}
    # The engine keeps going in later runs too.
    tester.send_raw([_good("u1", "d")])
    assert tester.state(counts_ips, "u1").history == ["a", "b", "d"]


def test_bad_input_validation_errors_are_clear(make_tester):
    tester = make_tester(counts_ips)
    tester.send_raw([BAD_INPUTS["missing_field"][0], BAD_INPUTS["wrong_type"][0]])
    missing, wrong = tester.dead_letters()
    assert missing["error"].startswith("message does not decode into the event type")
    assert "ip_address" in missing["error"] and "Field required" in missing["error"]
    assert missing["resolver"] == "counts_ips"
    assert wrong["error"].startswith("message does not decode into the event type")
    assert "ip_address" in wrong["error"] and "valid string" in wrong["error"]


def test_bad_input_all_kinds_in_one_run(make_tester):
    tester = make_tester(counts_ips, max_message_bytes=200)
    lines: List[Any] = []
    expected: Dict[str, List[str]] = {}
    bad_offsets = []
    for n, (line, _) in enumerate(BAD_INPUTS.values()):
        user = f"u{n % 3}"
        lines.append(_good(user, f"ip{n}"))
        expected.setdefault(user, []).append(f"ip{n}")
        bad_offsets.append(len(lines))
        lines.append(line)
    lines.append(_good("u0", "last"))
    expected["u0"].append("last")
    tester.send_raw(lines)
    assert dead_letter_offsets(tester) == bad_offsets
    for user, ips in expected.items():
        assert tester.state(counts_ips, user).history == ips
    assert tester.last_run["messages"] == len(lines)
    assert tester.last_run["dead_letters"] == len(BAD_INPUTS)


# =============================================================================================
# Outputs
# =============================================================================================


@dataclass
class CountState:
    count: int = 0


class DeviceEvent(BaseModel):
    device: str
    mode: str = "ok"


@stream(source=SOURCE)
def device_outputs(event: DeviceEvent, state: State[CountState]) -> Features[Device.id, Device.seen, Device.label]:
    state.count += 1
    if event.mode == "none":
        return None
    if event.mode == "undeclared":
        return Device(id=event.device, seen=state.count, extra=1)
    if event.mode == "wrong_type":
        return Device(id=event.device, seen="many")
    if event.mode == "wrong_class":
        return User(id=event.device, unique_ip_count=1)
    if event.mode == "no_label":
        return Device(id=event.device, seen=state.count)
    return Device(id=event.device, seen=state.count, label=f"label{state.count}")


def _device(device: str, mode: str = "ok", timestamp: Any = None, key: Any = "same"):
    record = {"key": device if key == "same" else key, "value": {"device": device, "mode": mode}}
    if timestamp is not None:
        record["timestamp"] = timestamp
    return record


def test_outputs_written_with_message_timestamp(make_tester):
    tester = make_tester(device_outputs)
    iso = "2024-05-01T12:00:00.250+02:00"
    iso_ms = int(datetime.datetime.fromisoformat(iso).timestamp() * 1000)
    produced = tester.send_many([
        _device("d1", timestamp=1_700_000_000_123),
        _device("d2", timestamp=iso),
        _device("d1", timestamp=1_700_000_005_000),
    ])
    assert tester.client.get_with_times(Device, "d1") == {
        "device.id": {"value": "d1", "time_ms": 1_700_000_005_000, "offset": 2},
        "device.seen": {"value": 2, "time_ms": 1_700_000_005_000, "offset": 2},
        "device.label": {"value": "label2", "time_ms": 1_700_000_005_000, "offset": 2},
    }
    assert tester.client.get_with_times(Device, "d2") == {
        "device.id": {"value": "d2", "time_ms": iso_ms, "offset": 1},
        "device.seen": {"value": 1, "time_ms": iso_ms, "offset": 1},
        "device.label": {"value": "label1", "time_ms": iso_ms, "offset": 1},
    }
    assert tester.features(Device, "d1") == {"device.id": "d1", "device.seen": 2, "device.label": "label2"}
    assert sorted((p["entity"], p["feature"], p["value"], p["time_ms"]) for p in produced) == sorted([
        ("d1", "device.id", "d1", 1_700_000_005_000),
        ("d1", "device.seen", 2, 1_700_000_005_000),
        ("d1", "device.label", "label2", 1_700_000_005_000),
        ("d2", "device.id", "d2", iso_ms),
        ("d2", "device.seen", 1, iso_ms),
        ("d2", "device.label", "label1", iso_ms),
    ])


def test_outputs_entity_id_is_the_returned_primary_key(make_tester):
    tester = make_tester(device_outputs)
    tester.send_many([_device("d7", key="some-partition", timestamp=10)])
    assert tester.features(Device, "d7") == {"device.id": "d7", "device.seen": 1, "device.label": "label1"}
    with pytest.raises(NotFoundError):
        tester.features(Device, "some-partition")


def test_outputs_none_writes_nothing(make_tester):
    tester = make_tester(device_outputs)
    produced = tester.send_many([_device("d1", "none", timestamp=5), _device("d1", "none", timestamp=6)])
    assert produced == []
    with pytest.raises(NotFoundError):
        tester.features(Device, "d1")
    assert tester.state(device_outputs, "d1") == CountState(count=2)
    assert tester.dead_letters() == []
    assert tester.last_run["outputs"] == 0
    # None after a value leaves the earlier value in place.
    tester.send_many([_device("d1", timestamp=7), _device("d1", "none", timestamp=8)])
    assert tester.client.get_with_times(Device, "d1")["device.seen"] == {"value": 3, "time_ms": 7, "offset": 2}


def test_outputs_only_returned_features_are_written(make_tester):
    tester = make_tester(device_outputs)
    tester.send_many([_device("d1", "no_label", timestamp=5)])
    assert tester.features(Device, "d1") == {"device.id": "d1", "device.seen": 1}


@pytest.mark.parametrize("mode, error_text", [
    ("undeclared", "device.extra"),
    ("wrong_type", "device.seen"),
    ("wrong_class", "User"),
], ids=["undeclared-feature", "wrong-type", "wrong-feature-class"])
def test_outputs_invalid_are_dead_lettered(make_tester, mode, error_text):
    tester = make_tester(device_outputs)
    tester.send_many([_device("d1", timestamp=1)])
    produced = tester.send_many([_device("d1", mode, timestamp=2), _device("d2", timestamp=3)])
    (dead,) = tester.dead_letters()
    assert dead["offset"] == 1
    assert dead["resolver"] == "device_outputs"
    assert dead["key"] == "d1"
    assert "returned an invalid value" in dead["error"]
    assert error_text in dead["error"]
    assert [p["entity"] for p in produced] == ["d2"] * 3
    # Nothing from the failed call is written, and its state change is rolled back.
    assert tester.client.get_with_times(Device, "d1")["device.seen"] == {"value": 1, "time_ms": 1, "offset": 0}
    assert tester.state(device_outputs, "d1") == CountState(count=1)
    tester.send_many([_device("d1", timestamp=4)])
    assert tester.features(Device, "d1") == {"device.id": "d1", "device.seen": 2, "device.label": "label2"}


def test_outputs_wrong_type_message(make_tester):
    tester = make_tester(device_outputs)
    tester.send_many([_device("d1", "wrong_type")])
    (dead,) = tester.dead_letters()
    assert "feature device.seen is int, got str" in dead["error"]


# =============================================================================================
# Durability across runs (CLI)
# =============================================================================================


def _login_lines(count: int, users: int, seed: int) -> List[str]:
    rng = random.Random(seed)
    lines = []
    for n in range(count):
        user = f"u{rng.randrange(users)}"
        ip = f"10.0.{rng.randrange(3)}.{rng.randrange(4)}"
        lines.append(json.dumps({"key": user, "value": {"user_id": user, "ip_address": ip},
                                 "timestamp": 1_700_000_000_000 + n}))
    return lines


def _summary_messages(stdout: str) -> int:
    lines = stdout.strip().splitlines()
    assert len(lines) == 1, stdout
    match = __import__("re").match(r"done: ([\d,]+) messages, ", lines[0])
    assert match, lines[0]
    return int(match.group(1).replace(",", ""))


def test_durability_across_cli_runs(tmp_path, statefold_cli):
    lines = _login_lines(60, users=7, seed=5)
    users = sorted({json.loads(line)["key"] for line in lines})
    growing = tmp_path / "growing.jsonl"
    whole = tmp_path / "whole.jsonl"
    whole.write_text("".join(line + "\n" for line in lines))

    growing.write_text("".join(line + "\n" for line in lines[:23]))
    first = statefold_cli("run", LOGIN_DEFS, "--input", growing, "--state-dir", tmp_path / "two-runs", check=True)
    assert _summary_messages(first.stdout) == 23
    with growing.open("a") as f:
        f.write("".join(line + "\n" for line in lines[23:]))
    second = statefold_cli("run", LOGIN_DEFS, "--input", growing, "--state-dir", tmp_path / "two-runs", check=True)
    assert _summary_messages(second.stdout) == 37
    third = statefold_cli("run", LOGIN_DEFS, "--input", growing, "--state-dir", tmp_path / "two-runs", check=True)
    assert _summary_messages(third.stdout) == 0

    once = statefold_cli("run", LOGIN_DEFS, "--input", whole, "--state-dir", tmp_path / "one-run", check=True)
    assert _summary_messages(once.stdout) == 60

    two_runs, one_run = Client(str(tmp_path / "two-runs")), Client(str(tmp_path / "one-run"))
    for user in users:
        assert two_runs.get_with_times("user", user) == one_run.get_with_times("user", user), user
        a, b = two_runs.state("track_unique_ips", user), one_run.state("track_unique_ips", user)
        assert sorted(a["unique_ips"]) == sorted(b["unique_ips"]), user
        expected_ips = {json.loads(line)["value"]["ip_address"] for line in lines
                        if json.loads(line)["key"] == user}
        assert sorted(a["unique_ips"]) == sorted(expected_ips), user
        assert two_runs.get("user", user)["user.unique_ip_count"] == len(expected_ips)
    assert sorted(two_runs.state_keys("track_unique_ips")) == users
    assert two_runs.dead_letters() == [] == one_run.dead_letters()


def test_durability_partially_written_last_line_is_not_lost(tmp_path, statefold_cli):
    """A run that sees the file while a producer is in the middle of appending a line must
    not consume (and lose) that half line: the next run over the completed file gives the
    result of one run over the whole file."""
    lines = _login_lines(12, users=3, seed=2)
    growing = tmp_path / "growing.jsonl"
    cut = len(lines[8]) // 2
    growing.write_text("".join(line + "\n" for line in lines[:8]) + lines[8][:cut])
    statefold_cli("run", LOGIN_DEFS, "--input", growing, "--state-dir", tmp_path / "two-runs", check=True)
    with growing.open("a") as f:
        f.write(lines[8][cut:] + "\n" + "".join(line + "\n" for line in lines[9:]))
    statefold_cli("run", LOGIN_DEFS, "--input", growing, "--state-dir", tmp_path / "two-runs", check=True)
    whole = tmp_path / "whole.jsonl"
    whole.write_text("".join(line + "\n" for line in lines))
    statefold_cli("run", LOGIN_DEFS, "--input", whole, "--state-dir", tmp_path / "one-run", check=True)

    two_runs, one_run = Client(str(tmp_path / "two-runs")), Client(str(tmp_path / "one-run"))
    assert two_runs.dead_letters() == []
    for user in sorted({json.loads(line)["key"] for line in lines}):
        assert sorted(two_runs.state("track_unique_ips", user)["unique_ips"]) == \
            sorted(one_run.state("track_unique_ips", user)["unique_ips"]), user
        assert two_runs.get_with_times("user", user) == one_run.get_with_times("user", user), user


def test_durability_across_tester_runs_equals_one_run(make_tester):
    (resolver,) = load_definitions(str(LOGIN_DEFS))
    records = [json.loads(line) for line in _login_lines(80, users=6, seed=9)]
    split = make_tester(resolver, batch_size=5)
    for chunk in (records[:10], records[10:11], records[11:47], records[47:]):
        split.send_many(chunk)
    once = make_tester(resolver)
    once.send_many(records)
    for user in sorted({r["key"] for r in records}):
        assert split.state(resolver, user).unique_ips == once.state(resolver, user).unique_ips
        assert split.client.get_with_times("user", user) == once.client.get_with_times("user", user)


# =============================================================================================
# CLI
# =============================================================================================


@pytest.fixture
def login_state_dir(tmp_path, statefold_cli):
    """examples/login/defs.py run over a small input with one bad line."""
    lines = [
        json.dumps(login("u1", "10.0.0.1", timestamp=1_000)),
        json.dumps(login("u2", "10.0.0.1", timestamp=2_000)),
        json.dumps(login("u1", "10.0.0.2", timestamp=3_000)),
        '{"key": "u1", "value": {"user_id": "u1"}}',
        json.dumps(login("u1", "10.0.0.1", timestamp=4_000)),
        json.dumps(login("u1", "10.0.0.3", timestamp=5_000)),
    ]
    path = tmp_path / "logins.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    state_dir = tmp_path / "state"
    result = statefold_cli("run", LOGIN_DEFS, "--input", path, "--state-dir", state_dir, check=True)
    assert result.stdout.startswith("done: 6 messages, 2 keys, 5 outputs, 1 dead letters in "), result.stdout
    return state_dir


def test_cli_get_prints_feature_json(login_state_dir, statefold_cli):
    result = statefold_cli("get", "user", "u1", "--state-dir", login_state_dir, check=True)
    assert json.loads(result.stdout) == {"user.id": "u1", "user.unique_ip_count": 3}
    result = statefold_cli("get", "user", "u2", "--state-dir", login_state_dir, check=True)
    assert json.loads(result.stdout) == {"user.id": "u2", "user.unique_ip_count": 1}
    result = statefold_cli("get", "user", "u1", "--times", "--state-dir", login_state_dir, check=True)
    assert json.loads(result.stdout) == {
        "user.id": {"value": "u1", "time_ms": 5_000, "offset": 5},
        "user.unique_ip_count": {"value": 3, "time_ms": 5_000, "offset": 5},
    }


@pytest.mark.parametrize("args", [("user", "nobody"), ("account", "u1")], ids=["unknown-id", "unknown-namespace"])
def test_cli_get_unknown_entity_exits_1(login_state_dir, statefold_cli, args):
    result = statefold_cli("get", *args, "--state-dir", login_state_dir)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("statefold: ")
    assert args[1] in result.stderr


def test_cli_state_get(login_state_dir, statefold_cli):
    result = statefold_cli("state", "get", "track_unique_ips", "u1", "--state-dir", login_state_dir, check=True)
    state = json.loads(result.stdout)
    assert list(state) == ["unique_ips"]
    assert sorted(state["unique_ips"]) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    missing = statefold_cli("state", "get", "track_unique_ips", "nobody", "--state-dir", login_state_dir)
    assert missing.returncode == 1
    assert "nobody" in missing.stderr


def test_cli_state_list_and_reset(login_state_dir, statefold_cli):
    listed = statefold_cli("state", "list", "track_unique_ips", "--state-dir", login_state_dir, check=True)
    assert sorted(listed.stdout.split()) == ["u1", "u2"]
    reset = statefold_cli("state", "reset", "track_unique_ips", "--state-dir", login_state_dir, check=True)
    assert "track_unique_ips" in reset.stdout
    listed = statefold_cli("state", "list", "track_unique_ips", "--state-dir", login_state_dir, check=True)
    assert listed.stdout == ""
    gone = statefold_cli("state", "get", "track_unique_ips", "u1", "--state-dir", login_state_dir)
    assert gone.returncode == 1


def test_cli_dead_letters_prints_json_lines(login_state_dir, statefold_cli):
    result = statefold_cli("dead-letters", "--state-dir", login_state_dir, check=True)
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["offset"] == 3
    assert record["resolver"] == "track_unique_ips"
    assert record["key"] == "u1"
    assert record["source"] == "..."
    assert "ip_address" in record["error"]
    assert json.loads(record["value"]) == {"user_id": "u1"}


def test_cli_run_after_reset_starts_from_initial_state(tmp_path, login_state_dir, statefold_cli):
    statefold_cli("state", "reset", "track_unique_ips", "--state-dir", login_state_dir, check=True)
    path = tmp_path / "logins.jsonl"  # the fixture's input; the source resumes after its end
    with path.open("a") as f:
        f.write(json.dumps(login("u1", "10.9.9.9", timestamp=9_000)) + "\n")
    result = statefold_cli("run", LOGIN_DEFS, "--input", path, "--state-dir", login_state_dir, check=True)
    assert result.stdout.startswith("done: 1 messages, 1 keys, 1 outputs, 0 dead letters in "), result.stdout
    state = json.loads(statefold_cli("state", "get", "track_unique_ips", "u1", "--state-dir", login_state_dir,
                                     check=True).stdout)
    assert state == {"unique_ips": ["10.9.9.9"]}


# =============================================================================================
# statefold.Client
# =============================================================================================


def test_client_api(make_tester):
    tester = make_tester(raises_on_bad)
    tester.send_many([
        login("u1", "a", timestamp=100),
        login("u2", "b", timestamp=200),
        login("u1", "bad", timestamp=300),
        login("u1", "c", timestamp=400),
    ])
    client = Client(tester.state_dir)

    assert client.get(User, "u1") == {"user.id": "u1", "user.unique_ip_count": 2}
    assert client.get("user", "u2") == {"user.id": "u2", "user.unique_ip_count": 1}
    with pytest.raises(NotFoundError):
        client.get("user", "nobody")
    assert client.get_with_times("user", "u1")["user.unique_ip_count"] == {"value": 2, "time_ms": 400, "offset": 3}

    state = client.state(raises_on_bad, "u1")
    assert type(state) is IpState
    assert state == IpState(unique_ips={"a", "c"}, history=["a", "c"])
    as_json = client.state("raises_on_bad", "u1")
    assert sorted(as_json["unique_ips"]) == ["a", "c"] and as_json["history"] == ["a", "c"]
    with pytest.raises(NotFoundError):
        client.state(raises_on_bad, "nobody")
    with pytest.raises(NotFoundError):
        client.state("no_such_resolver", "u1")

    assert sorted(client.state_keys(raises_on_bad)) == ["u1", "u2"]
    assert sorted(client.state_keys("raises_on_bad")) == ["u1", "u2"]
    assert client.state_keys(raises_on_bad, limit=1) in (["u1"], ["u2"])

    dead = client.dead_letters()
    assert [(d["offset"], d["key"], d["resolver"], d["timestamp"]) for d in dead] == [(2, "u1", "raises_on_bad", 300)]

    client.reset_state(raises_on_bad)
    assert client.state_keys(raises_on_bad) == []
    with pytest.raises(NotFoundError):
        client.state(raises_on_bad, "u1")
    # Features and dead letters are not state: they stay.
    assert client.get("user", "u1") == {"user.id": "u1", "user.unique_ip_count": 2}
    assert len(client.dead_letters()) == 1
    # After a reset, keys start again from the initial state.
    tester.send_many([login("u1", "z", timestamp=500)])
    assert client.state(raises_on_bad, "u1") == IpState(unique_ips={"z"}, history=["z"])
    assert client.get("user", "u1") == {"user.id": "u1", "user.unique_ip_count": 1}


def test_client_on_missing_state_dir(tmp_path):
    client = Client(str(tmp_path / "does-not-exist"))
    with pytest.raises(NotFoundError):
        client.get("user", "u1")
    assert not (tmp_path / "does-not-exist").exists()


def test_cli_status_reports_the_last_checkpoint(tmp_path, statefold_cli):
    events = tmp_path / "events.jsonl"
    events.write_text("".join(
        json.dumps({"key": f"u{i % 4}", "value": {"user_id": f"u{i % 4}", "ip_address": f"10.0.0.{i}"},
                    "timestamp": i}) + "\n" for i in range(40)
    ) + "{broken\n")
    statefold_cli("run", LOGIN_DEFS, "--input", events, "--state-dir", tmp_path / "s", check=True)
    status = json.loads(statefold_cli("status", "--json", "--state-dir", tmp_path / "s", check=True).stdout)
    assert status["run"]["messages"] == 41
    assert status["run"]["outputs"] == 40
    assert status["run"]["dead_letters"] == 1
    assert status["sources"]["..."]["partitions"]["0"]["next_offset"] == 41
    assert status["resolvers"]["track_unique_ips"]["keys"] == 4
    text = statefold_cli("status", "--state-dir", tmp_path / "s", check=True).stdout
    assert "41 messages" in text and "track_unique_ips: 4 keys" in text
