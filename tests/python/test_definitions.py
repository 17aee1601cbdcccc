"""Definition-time rules: everything knowable before the first message fails at `@stream`.

Each error is a statefold.DefinitionError whose message names the resolver, the parameter
and the field where relevant, and contains the definition's file:line.
"""

import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Set

import pytest
from pydantic import BaseModel

import statefold
from statefold import DefinitionError, Features, KafkaSource, State, features, stream
from statefold.runtime import load_definitions

from conftest import LOGIN_DEFS, PUBLISHED_DEFS

SOURCE = KafkaSource(name="logins")
THIS_FILE = Path(__file__)


class LoginEvent(BaseModel):
    user_id: str
    ip_address: str


@features
class User:
    id: str
    unique_ip_count: int


@features
class Account:
    id: str
    balance: int


def definition_locations(name: str, path: Path = THIS_FILE) -> set:
    """The acceptable `file:line` texts of function `name` in `path`: its `def` line and the
    line of each decorator above it (Python reports the first decorator's line)."""
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        if re.match(rf"\s*def {re.escape(name)}\(", line):
            candidates = {number}
            above = number - 1
            while above >= 1 and lines[above - 1].strip().startswith("@"):
                candidates.add(above)
                above -= 1
            return {f"{path}:{n}" for n in candidates}
    raise AssertionError(f"no def {name}( in {path}")


def assert_names(message: str, *parts: str) -> None:
    for part in parts:
        assert part in message, f"{part!r} not in DefinitionError message {message!r}"


def assert_location(message: str, name: str, path: Path = THIS_FILE) -> None:
    locations = definition_locations(name, path)
    assert any(location in message for location in locations), (
        f"none of {sorted(locations)} in DefinitionError message {message!r}"
    )


# --- state type neither dataclass nor pydantic ------------------------------------------------


class PlainState:
    def __init__(self) -> None:
        self.unique_ips = set()


def test_state_type_must_be_dataclass_or_pydantic():
    with pytest.raises(DefinitionError) as info:

        @stream(source=SOURCE)
        def plain_state_resolver(event: LoginEvent, state: State[PlainState]) -> None:
            pass

    message = str(info.value)
    assert_names(message, "plain_state_resolver", "state", "PlainState")
    assert "neither a dataclass nor a pydantic model" in message
    assert_location(message, "plain_state_resolver")


def test_state_type_plain_class_with_default_is_still_rejected():
    with pytest.raises(DefinitionError) as info:

        @stream(source=SOURCE)
        def plain_default_resolver(event: LoginEvent, st: State[PlainState] = PlainState()) -> None:
            pass

    message = str(info.value)
    assert_names(message, "plain_default_resolver", "st", "PlainState")
    assert_location(message, "plain_default_resolver")


# --- no default and no zero-argument constructor ---------------------------------------------


@dataclass
class RequiredFieldState:
    unique_ips: Set[str]


class RequiredFieldModel(BaseModel):
    unique_ips: Set[str]


def test_no_default_and_no_zero_argument_constructor_dataclass():
    with pytest.raises(DefinitionError) as info:

        @stream(source=SOURCE)
        def required_field_resolver(event: LoginEvent, login_state: State[RequiredFieldState]) -> None:
            pass

    message = str(info.value)
    assert_names(message, "required_field_resolver", "login_state", "RequiredFieldState", "no default")
    assert_location(message, "required_field_resolver")


def test_no_default_and_no_zero_argument_constructor_pydantic():
    with pytest.raises(DefinitionError) as info:

        @stream(source=SOURCE)
        def required_model_resolver(event: LoginEvent, login_state: State[RequiredFieldModel]) -> None:
            pass

    message = str(info.value)
    assert_names(message, "required_model_resolver", "login_state", "RequiredFieldModel")
    assert_location(message, "required_model_resolver")


def test_no_zero_argument_constructor_is_fine_with_a_default():
    @stream(source=SOURCE)
    def required_with_default(
        event: LoginEvent, state: State[RequiredFieldState] = RequiredFieldState(unique_ips=set())
    ) -> None:
        pass

    assert isinstance(required_with_default, statefold.StreamResolver)
    assert required_with_default.name == "required_with_default"


# --- default that does not fit the schema -----------------------------------------------------


class ReferenceLoginState(BaseModel):
    unique_ips: Set[str] = 0  # the reference's bug, byte for byte


def test_default_that_does_not_fit_schema_reference_bug():
    with pytest.raises(DefinitionError) as info:

        @stream(source=SOURCE)
        def track_unique_ips(event: LoginEvent, state: State[ReferenceLoginState]) -> Features[
            User.id,
            User.unique_ip_count
        ]:
            state.unique_ips.add(event.ip_address)
            return User(id=event.user_id, unique_ip_count=len(state.unique_ips))

    message = str(info.value)
    assert_names(message, "track_unique_ips", "state", "unique_ips", "expected set[str]")
    assert_location(message, "track_unique_ips")


@dataclass
class SetState:
    unique_ips: Set[str] = field(default_factory=set)


def test_default_argument_that_does_not_fit_schema():
    with pytest.raises(DefinitionError) as info:

        @stream(source=SOURCE)
        def bad_default_argument(event: LoginEvent, ips: State[SetState] = SetState(unique_ips=["a"])) -> None:
            pass

    message = str(info.value)
    assert_names(message, "bad_default_argument", "ips", "unique_ips", "expected set[str]")
    assert_location(message, "bad_default_argument")


def test_default_of_another_type_does_not_fit_schema():
    with pytest.raises(DefinitionError) as info:

        @stream(source=SOURCE)
        def wrong_default_type(event: LoginEvent, state: State[SetState] = RequiredFieldState(set())) -> None:
            pass

    message = str(info.value)
    assert_names(message, "wrong_default_type", "state", "expected SetState")
    assert_location(message, "wrong_default_type")


def test_reference_as_published_fails_to_load():
    with pytest.raises(DefinitionError) as info:
        load_definitions(str(PUBLISHED_DEFS))
    message = str(info.value)
    assert_names(message, "track_unique_ips", "state", "unique_ips", "expected set[str]")
    assert_location(message, "track_unique_ips", PUBLISHED_DEFS)


# --- more than one State parameter ------------------------------------------------------------


def test_more_than_one_state_parameter():
    with pytest.raises(DefinitionError) as info:

        @stream(source=SOURCE)
        def two_states(event: LoginEvent, first: State[SetState], second: State[SetState]) -> None:
            pass

    message = str(info.value)
    assert_names(message, "two_states", "first", "second", "more than one State")
    assert_location(message, "two_states")


# --- outputs ----------------------------------------------------------------------------------


def test_outputs_without_primary_key():
    with pytest.raises(DefinitionError) as info:

        @stream(source=SOURCE)
        def no_primary_key(event: LoginEvent, state: State[SetState]) -> Features[User.unique_ip_count]:
            pass

    message = str(info.value)
    assert_names(message, "no_primary_key", "primary key", "user.id")
    assert_location(message, "no_primary_key")


def test_outputs_from_two_namespaces():
    with pytest.raises(DefinitionError) as info:

        @stream(source=SOURCE)
        def two_namespaces(event: LoginEvent, state: State[SetState]) -> Features[
            User.id, User.unique_ip_count, Account.balance
        ]:
            pass

    message = str(info.value)
    assert_names(message, "two_namespaces", "user", "account", "namespaces")
    assert_location(message, "two_namespaces")


def test_outputs_from_two_namespaces_each_with_primary_key():
    with pytest.raises(DefinitionError) as info:

        @stream(source=SOURCE)
        def two_primary_keys(event: LoginEvent) -> Features[User.id, Account.id]:
            pass

    message = str(info.value)
    assert_names(message, "two_primary_keys", "user", "account")
    assert_location(message, "two_primary_keys")


# --- unsupported field types ------------------------------------------------------------------


@dataclass
class AnyState:
    count: int = 0
    payload: Any = None


@dataclass
class BareListInner:
    values: list = field(default_factory=list)


@dataclass
class BareListOuter:
    inner: BareListInner = field(default_factory=BareListInner)


class ModelWithBareDict(BaseModel):
    seen: dict = {}


def test_unsupported_field_type_any():
    with pytest.raises(DefinitionError) as info:

        @stream(source=SOURCE)
        def any_field(event: LoginEvent, state: State[AnyState]) -> None:
            pass

    message = str(info.value)
    assert_names(message, "any_field", "state", "AnyState", "field payload")
    assert_location(message, "any_field")


def test_unsupported_field_type_bare_list_names_nested_path():
    with pytest.raises(DefinitionError) as info:

        @stream(source=SOURCE)
        def bare_list_field(event: LoginEvent, state: State[BareListOuter]) -> None:
            pass

    message = str(info.value)
    assert_names(message, "bare_list_field", "state", "field inner.values")
    assert_location(message, "bare_list_field")


def test_unsupported_field_type_bare_dict_in_pydantic_model():
    with pytest.raises(DefinitionError) as info:

        @stream(source=SOURCE)
        def bare_dict_field(event: LoginEvent, state: State[ModelWithBareDict]) -> None:
            pass

    message = str(info.value)
    assert_names(message, "bare_dict_field", "state", "field seen")
    assert_location(message, "bare_dict_field")


@dataclass
class UnionState:
    value: typing.Union[int, str] = 0


def test_unsupported_field_type_union():
    with pytest.raises(DefinitionError) as info:

        @stream(source=SOURCE)
        def union_field(event: LoginEvent, state: State[UnionState]) -> None:
            pass

    message = str(info.value)
    assert_names(message, "union_field", "state", "field value")
    assert_location(message, "union_field")


# --- chalk compatibility imports --------------------------------------------------------------


def test_chalk_compat_imports():
    from chalk import State as ChalkState
    from chalk.features import Features as ChalkFeatures
    from chalk.features import features as chalk_features
    from chalk.streams import KafkaSource as ChalkKafkaSource
    from chalk.streams import stream as chalk_stream

    assert ChalkState is statefold.State
    assert ChalkFeatures is statefold.Features
    assert chalk_features is statefold.features
    assert ChalkKafkaSource is statefold.KafkaSource
    assert chalk_stream is statefold.stream


def test_chalk_compat_example_runs_end_to_end(make_tester):
    """examples/login/defs.py is written with the chalk imports only."""
    (resolver,) = load_definitions(str(LOGIN_DEFS))
    assert resolver.name == "track_unique_ips"
    tester = make_tester(resolver)
    tester.send_many([
        {"key": "u1", "value": {"user_id": "u1", "ip_address": "10.0.0.1"}},
        {"key": "u1", "value": {"user_id": "u1", "ip_address": "10.0.0.2"}},
        {"key": "u1", "value": {"user_id": "u1", "ip_address": "10.0.0.1"}},
    ])
    assert tester.features("user", "u1") == {"user.id": "u1", "user.unique_ip_count": 2}
    assert tester.state(resolver, "u1").unique_ips == {"10.0.0.1", "10.0.0.2"}
    assert tester.dead_letters() == []


# --- the engine config is typed and built at definition time ---------------------------------


@dataclass
class SeenIps:
    ips: Set[str] = field(default_factory=set)


def test_a_resolver_is_defined_with_its_typed_engine_config():
    @stream(source=SOURCE, keys={"user_id": User.id})
    def typed_config_resolver(state: State[SeenIps], event: LoginEvent) -> Features[User.id, User.unique_ip_count]:
        state.ips.add(event.ip_address)
        return User(id=event.user_id, unique_ip_count=len(state.ips))

    config = typed_config_resolver.engine_resolver
    assert isinstance(config, statefold._ext.PythonResolverConfig)
    spec = config.spec
    assert (spec.name, spec.source, spec.key_path, spec.stateful) == (
        "typed_config_resolver", "logins", ["user_id"], True)
    assert (config.event_position, config.state_position) == (1, 0)
    assert config.initial_state == typed_config_resolver.initial_state
    assert (config.output_namespace, config.primary_key) == ("user", "id")
    kinds = statefold._ext.FeatureKind
    assert [(o.name, o.fqn, o.kind, o.nullable) for o in config.outputs] == [
        ("id", "user.id", kinds.STR, False), ("unique_ip_count", "user.unique_ip_count", kinds.INT, False)]
    # A misspelt field is refused where it is set, not silently ignored at run time.
    with pytest.raises(AttributeError, match="state_positon"):
        config.state_positon = 1


# -- issue 12, items 13 and 14 ------------------------------------------------------------------


def test_an_async_resolver_is_refused_at_definition():
    with pytest.raises(DefinitionError) as info:

        @stream(source=SOURCE)
        async def async_resolver(event: LoginEvent) -> None:
            pass

    assert_names(str(info.value), "async_resolver", "is an async def", "plain def")


def test_a_generator_resolver_is_refused_at_definition():
    with pytest.raises(DefinitionError) as info:

        @stream(source=SOURCE)
        def generator_resolver(event: LoginEvent):
            yield User(id=event.user_id, unique_ip_count=1)

    assert_names(str(info.value), "generator_resolver", "is a generator", "plain def")
    with pytest.raises(DefinitionError, match="is an async def"):

        @stream(source=SOURCE)
        async def async_generator_resolver(event: LoginEvent):
            yield None


class CountState(BaseModel):
    count: int = 0


def test_a_state_parameter_annotated_without_state_gets_the_state_hint():
    with pytest.raises(DefinitionError) as info:

        @stream(source=SOURCE)
        def unmarked_state(event: LoginEvent, state: CountState) -> None:
            pass

    message = str(info.value)
    assert_names(message, "unmarked_state", "parameter state is annotated CountState",
                 "state: State[CountState]")
    assert_location(message, "unmarked_state")
    with pytest.raises(DefinitionError, match=r"counts: State\[CountState\]"):

        @stream(source=SOURCE)
        def unmarked_second(event: LoginEvent, counts: CountState) -> None:
            pass


class BareDictState(BaseModel):
    seen: dict = {}


class BareTupleState(BaseModel):
    pair: tuple = ()


def test_a_bare_collection_hint_suggests_valid_syntax():
    with pytest.raises(DefinitionError) as info:

        @stream(source=SOURCE)
        def bare_dict_hint(event: LoginEvent, state: State[BareDictState]) -> None:
            pass

    assert "dict needs item types, e.g. dict[str, int]" in str(info.value)
    with pytest.raises(DefinitionError, match=r"e\.g\. tuple\[str, \.\.\.\] or tuple\[str, int\]"):

        @stream(source=SOURCE)
        def bare_tuple_hint(event: LoginEvent, state: State[BareTupleState]) -> None:
            pass


class ExtraAllowState(BaseModel, extra="allow"):
    count: int = 0


class HoldsExtraAllow(BaseModel):
    inner: ExtraAllowState = ExtraAllowState()


def test_a_pydantic_state_with_extra_allow_is_refused_at_definition():
    for state_class, path in ((ExtraAllowState, ""), (HoldsExtraAllow, "field inner: ")):
        with pytest.raises(DefinitionError) as info:

            @stream(source=SOURCE, name=f"extra_allow_{state_class.__name__}")
            def extra_allow(event: LoginEvent, state: State[state_class]) -> None:
                pass

        assert_names(str(info.value), f"{path}ExtraAllowState allows extra fields (extra=\"allow\")",
                     "drop extra=\"allow\"")


class ExtraForbidState(BaseModel, extra="forbid"):
    count: int = 0


def test_a_pydantic_state_with_extra_forbid_or_ignore_runs(make_tester):
    @stream(source=SOURCE)
    def count_forbid(event: LoginEvent, state: State[ExtraForbidState]) -> None:
        state.count += 1

    tester = make_tester(count_forbid)
    tester.send({"user_id": "u1", "ip_address": "a"}, key="u1")
    tester.send({"user_id": "u1", "ip_address": "b"}, key="u1")
    assert tester.dead_letters() == []
    assert tester.state(count_forbid, "u1").count == 2


def test_unknown_stream_tester_options_are_errors_naming_the_closest(tmp_path):
    from statefold.testing import StreamTester

    @stream(source=SOURCE)
    def tester_options(event: LoginEvent) -> None:
        pass

    with pytest.raises(TypeError, match=r"StreamTester\(\) got an unknown option 'bach_size'; "
                                        r"did you mean 'batch_size'\?"):
        StreamTester(tester_options, state_dir=str(tmp_path), bach_size=10)
    with pytest.raises(TypeError, match=r"engine_options\(\) got an unknown option 'sink'"):
        statefold.runtime.engine_options(sink=True)
