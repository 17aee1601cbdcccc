"""docs/semantics.md, State: the initial state of each new key, the state types (dataclass,
pydantic v2 and v1) and field types that round trip through the store, and updates as
mutations seen by the key's next message in offset order.

`make_tester` (conftest.py) drives resolvers with statefold.testing.StreamTester: every send
appends JSON Lines records and runs the engine over the new ones, so `tester.state(...)`
decodes the state bytes the engine committed.
"""

import dataclasses
import datetime
import enum
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, List, Optional, Set, Tuple

import pydantic
import pydantic.v1
import pytest
from pydantic import BaseModel

from statefold import Features, State, stream

from semantics_defs import (SOURCE, LoginEvent, SeqEvent, Stream, User, append_seq, fill_seq_values,
                            login, seq_records)

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


@dataclass
class FloatState:
    last: float = 0.0
    history: List[float] = field(default_factory=list)
    maybe: Optional[float] = None


class FloatEvent(BaseModel):
    value: str  # for float(): "nan", "inf", "-inf", "1.5"


@stream(source=SOURCE)
def keep_floats(event: FloatEvent, state: State[FloatState]) -> None:
    state.last = float(event.value)
    state.history.append(state.last)
    state.maybe = state.last


def test_nan_and_infinite_state_round_trips_and_its_json_view_names_them(make_tester, statefold_cli):
    """State keeps NaN and ±inf exactly (the state codec stores the double's bits); its JSON
    view (`statefold state get`, Client.state by name) writes them as "NaN", "Infinity" and
    "-Infinity", which float() reads back, never as null."""
    import json
    import math
    tester = make_tester(keep_floats)
    tester.send_many([{"key": "k", "value": {"value": v}} for v in ("1.5", "inf", "-inf", "nan")])
    assert tester.dead_letters() == []
    state = tester.state(keep_floats, "k")
    assert math.isnan(state.last) and math.isnan(state.maybe)
    assert state.history[:3] == [1.5, math.inf, -math.inf] and math.isnan(state.history[3])
    view = tester.client.state(keep_floats.name, "k")
    assert view == {"last": "NaN", "history": [1.5, "Infinity", "-Infinity", "NaN"], "maybe": "NaN"}
    printed = statefold_cli("state", "get", keep_floats.name, "k", "--state-dir", tester.state_dir,
                            check=True)
    assert json.loads(printed.stdout) == view
    assert [float(v) for v in view["history"]][:3] == [1.5, math.inf, -math.inf]
    assert math.isnan(float(view["last"]))



# =============================================================================================
# Updates are mutations, saved after return, applied per key in offset order
# =============================================================================================


@pytest.mark.parametrize("options", [
    {},
    {"batch_size": 7, "checkpoint_every_messages": 25},
    {"batch_size": 1},
], ids=["defaults", "small-batches-and-epochs", "batch-of-one"])
def test_updates_visible_to_next_message_in_offset_order(make_tester, options):
    tester = make_tester(append_seq, **options)
    records = fill_seq_values(seq_records(400, keys=9, seed=7))
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

