"""`@stream`: defines a stream resolver and checks it when it is defined.

Everything that can be known before the first message is checked here, and reported as a
DefinitionError naming the resolver, its file and line, the parameter and the field.
"""

import dataclasses
import datetime
import enum
import inspect
import json
import typing
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import _ext
from .errors import DefinitionError, StatefoldError
from .features import Feature, FeaturesSpec
from .schema import SchemaError, describe, record_fields, record_flavor
from .sources import FileSource, KafkaSource
from .state import state_type


@dataclasses.dataclass
class StreamResolver:
    """A checked stream resolver. Calling it calls the user's function unchanged."""

    function: Callable[..., Any]
    name: str
    source: Any
    key_path: List[str]
    event_type: Any
    event_position: int
    state_position: int
    state_class: Any
    state_schema: Optional[str]
    codec: Any
    initial_state: Optional[bytes]
    outputs: Optional[FeaturesSpec]
    event_parser: Any
    event_as_text: bool
    location: str
    parse_given: bool = False
    # What the engine runs: an _ext.PythonResolverConfig, built from the fields above when
    # the resolver is defined.
    engine_resolver: Any = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.engine_resolver is None:
            self.engine_resolver = _engine_config(self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    @property
    def source_name(self) -> str:
        return self.source.source_name

    def decode_state(self, payload: bytes) -> Any:
        return self.codec.decode(payload)


_FEATURE_KINDS = {"any": _ext.FeatureKind.ANY, "int": _ext.FeatureKind.INT,
                  "float": _ext.FeatureKind.FLOAT, "str": _ext.FeatureKind.STR,
                  "bool": _ext.FeatureKind.BOOL}


def _engine_config(r: StreamResolver) -> Any:
    """The resolver as the engine binding takes it. The config is a typed struct
    (python/_ext/python_resolver.h): a misspelt field is an AttributeError here, when the
    resolver is defined."""
    config = _ext.PythonResolverConfig()
    spec = config.spec
    spec.name = r.name
    spec.source = r.source_name
    spec.key_path = r.key_path
    spec.stateful = r.codec is not None
    config.function = r.function
    config.event_parser = r.event_parser
    config.event_as_text = r.event_as_text
    config.parser_takes_headers = _takes_headers(r.event_parser) if r.parse_given else False
    config.event_position = r.event_position
    config.state_position = r.state_position
    if r.codec is not None:
        config.codec = r.codec
        spec.state_schema = r.state_schema
        config.initial_state = r.initial_state
    if r.outputs is not None:
        features = r.outputs.features
        owner = features[0].owner
        config.output_class = owner
        config.output_namespace = owner.__statefold_namespace__
        config.output_description = repr(r.outputs)
        config.primary_key = owner.__statefold_primary__.name
        outputs = []
        for f in features:
            kind, nullable = f.value_kind()
            output = _ext.OutputFeature()
            output.name = f.name
            output.fqn = f.fqn
            output.kind = _FEATURE_KINDS[kind]
            output.nullable = nullable
            outputs.append(output)
        config.outputs = outputs  # assigned whole: reading the field gives a copy
    return config


def stream(
    function: Optional[Callable[..., Any]] = None,
    *,
    source: Any = None,
    keys: Optional[Dict[str, Any]] = None,
    parse: Optional[Callable[..., Any]] = None,
    name: Optional[str] = None,
    **_chalk_options: Any,
) -> Any:
    """Declares a stream resolver over `source`: `@stream(source=src)` above a function taking
    the event and, optionally, a `State[T]` parameter. `keys={"user_id": User.id}` keys the state
    by a message field (dotted for nested fields) instead of the message key."""

    def wrap(fn: Callable[..., Any]) -> StreamResolver:
        return _define(fn, source, keys, parse, name)

    return wrap(function) if function is not None else wrap


def _define(fn: Callable[..., Any], source: Any, keys: Any, parse: Any, name: Optional[str]) -> StreamResolver:
    resolver_name = name or fn.__name__
    code = getattr(fn, "__code__", None)
    location = f"{code.co_filename}:{code.co_firstlineno}" if code else "<unknown>"

    def fail(message: str) -> DefinitionError:
        return DefinitionError(f"resolver {resolver_name} ({location}): {message}")

    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        raise fail("is an async def; a resolver is a plain def: statefold calls it once per "
                   "message and uses what it returns, it never awaits it")
    if inspect.isgeneratorfunction(fn):
        raise fail("is a generator (it yields); a resolver is a plain def that returns its "
                   "features (or None) once per message")
    if source is None:
        source = FileSource()
    if not isinstance(source, (KafkaSource, FileSource)):
        raise fail(f"source must be a KafkaSource or FileSource, got {source!r}")
    try:
        signature = inspect.signature(fn, eval_str=True)
    except Exception as e:
        raise fail(f"cannot read the signature: {e}") from e

    state_params = []
    event_params = []
    for position, parameter in enumerate(signature.parameters.values()):
        if parameter.kind not in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            raise fail(f"parameter {parameter.name} must be positional")
        st = state_type(parameter.annotation)
        if st is not None:
            state_params.append((position, parameter, st))
        else:
            event_params.append((position, parameter))
    if len(state_params) > 1:
        names = ", ".join(p.name for _, p, _ in state_params)
        raise fail(f"has more than one State parameter ({names}); a resolver has one state per key")
    if len(event_params) == 2 and not state_params:
        position, parameter = _unmarked_state(event_params)
        if parameter is not None:
            name = getattr(parameter.annotation, "__name__", repr(parameter.annotation))
            raise fail(f"parameter {parameter.name} is annotated {name}; for the per-key state "
                       f"write {parameter.name}: State[{name}] (from statefold import State)")
    if len(event_params) != 1:
        raise fail("must take exactly one event parameter (and optionally one State[...] parameter)")
    event_position, event_parameter = event_params[0]
    event_type = event_parameter.annotation
    if event_type is inspect.Parameter.empty:
        raise fail(f"parameter {event_parameter.name} needs a type annotation (a pydantic model, "
                   "a dataclass, str or bytes)")
    event_parser, event_as_text = _event_parser(event_type, parse, fail, event_parameter.name)

    key_path: List[str] = []
    if keys:
        if len(keys) != 1:
            raise fail("keys= takes exactly one message field, e.g. keys={\"user_id\": User.id}")
        field_name = next(iter(keys))
        if not isinstance(field_name, str) or not field_name:
            raise fail(f"keys= maps a message field name to a feature, got {field_name!r}")
        key_path = field_name.split(".")

    state_position = -1
    state_class = codec = state_schema = initial_state = None
    if state_params:
        state_position, parameter, state_class = state_params[0]
        codec, state_schema, initial_state = _initial_state(parameter, state_class, fail)

    outputs = _outputs(signature.return_annotation, fail)
    return StreamResolver(
        function=fn, name=resolver_name, source=source, key_path=key_path, event_type=event_type,
        event_position=event_position, state_position=state_position, state_class=state_class,
        state_schema=state_schema, codec=codec, initial_state=initial_state, outputs=outputs,
        event_parser=event_parser, event_as_text=event_as_text, location=location,
        parse_given=parse is not None,
    )


def _unmarked_state(params: List[Tuple[int, inspect.Parameter]]) -> Tuple[int, Any]:
    """Of a resolver's two unmarked parameters, the one meant as its state (`state:
    LoginState` for `state: State[LoginState]`): the one named like a state, else the second,
    when its annotation is a record type."""
    named = [p for p in params if "state" in p[1].name.lower()]
    position, parameter = named[0] if len(named) == 1 else params[1]
    if record_flavor(parameter.annotation) is None:
        return position, None
    return position, parameter


def _initial_state(parameter: inspect.Parameter, state_class: Any, fail: Callable[[str], Exception]) -> Tuple[Any, str, bytes]:
    where = f"parameter {parameter.name}"
    try:
        description, schema_json = describe(state_class)
    except SchemaError as e:
        raise fail(f"{where}: state type {getattr(state_class, '__name__', state_class)}: {e}") from None
    codec = _ext.Codec(description)
    if parameter.default is not inspect.Parameter.empty:
        initial = parameter.default
        origin = "its default value"
    else:
        try:
            initial = state_class()
        except Exception as e:
            raise fail(
                f"{where} has no default value, and {state_class.__name__}() cannot be built "
                f"without arguments ({type(e).__name__}: {e}); give every field a default or "
                f"give the parameter a default state"
            ) from None
        origin = f"{state_class.__name__}()"
    try:
        initial_bytes = codec.encode(initial)
    except StatefoldError as e:
        raise fail(f"{where}: the initial state {origin} does not fit the schema of "
                   f"{state_class.__name__}: {e}") from None
    return codec, schema_json, initial_bytes


def _outputs(annotation: Any, fail: Callable[[str], Exception]) -> Optional[FeaturesSpec]:
    if annotation in (inspect.Signature.empty, None, type(None)):
        return None
    if isinstance(annotation, Feature):
        annotation = FeaturesSpec((annotation,))
    if not isinstance(annotation, FeaturesSpec):
        raise fail(f"the return annotation must be Features[...] or None, got {annotation!r}")
    namespaces = sorted({f.namespace for f in annotation.features})
    if len(namespaces) != 1:
        raise fail(f"outputs come from several namespaces ({', '.join(namespaces)}); "
                   "a resolver returns features of one entity")
    if not any(f.primary for f in annotation.features):
        primary = annotation.features[0].owner.__statefold_primary__
        raise fail(f"outputs {annotation!r} lack the primary key {primary.fqn}")
    return annotation


def _event_parser(event_type: Any, parse: Any, fail: Callable[[str], Exception], parameter: str) -> Tuple[Any, bool]:
    """A callable bytes -> event for the binding, and whether raw payloads go as str."""
    if parse is not None:
        return parse, False
    if event_type is bytes:
        return None, False
    if event_type is str:
        return None, True
    flavor = record_flavor(event_type)
    if flavor == "pydantic2":
        return event_type.__pydantic_validator__.validate_json, False
    if flavor == "pydantic1":
        return event_type.parse_raw, False
    if flavor == "dataclass":
        try:
            describe(event_type)
        except SchemaError as e:
            raise fail(f"parameter {parameter}: event type {event_type.__name__}: {e}") from None
        return _DataclassEventParser(event_type), False
    if event_type in (dict, Dict) or typing.get_origin(event_type) is dict:
        return json.loads, False
    raise fail(f"parameter {parameter}: the event type must be a pydantic model, a dataclass, dict, "
               f"str or bytes, got {event_type!r}")


def _takes_headers(parse: Callable[..., Any]) -> bool:
    """Whether a parse= function wants the message headers: `parse(payload, headers)`."""
    try:
        parameters = list(inspect.signature(parse).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2


class _DataclassEventParser:
    """JSON -> dataclass event, converting and checking each field by its annotation."""

    def __init__(self, cls: type):
        self.cls = cls

    def __call__(self, payload: bytes) -> Any:
        return _convert(self.cls, json.loads(payload), "")


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    where = f"field {path}: " if path else ""
    if origin is typing.Annotated:
        return _convert(args[0], value, path)
    if origin is typing.Union or type(tp).__name__ == "UnionType":
        if value is None and type(None) in args:
            return None
        rest = [a for a in args if a is not type(None)]
        return _convert(rest[0], value, path)
    if tp is datetime.datetime:
        if isinstance(value, str):
            try:
                return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                pass
        raise ValueError(f"{where}expected an ISO-8601 datetime, got {value!r}")
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (bool, int, float, str):
        if type(value) is not tp:
            raise ValueError(f"{where}expected {tp.__name__}, got {type(value).__name__} ({value!r})")
        return value
    if tp is bytes:
        if isinstance(value, str):
            return value.encode()
        raise ValueError(f"{where}expected bytes as a string, got {value!r}")
    if origin in (list, set, frozenset, tuple):
        if not isinstance(value, list):
            raise ValueError(f"{where}expected a JSON array, got {value!r}")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(value):
                raise ValueError(f"{where}expected {len(args)} items, got {len(value)}")
            return tuple(_convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        items = [_convert(args[0], v, f"{path}[{i}]") for i, v in enumerate(value)]
        return origin(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}expected a JSON object, got {value!r}")
        return {_convert(args[0], k, f"{path}[key]"): _convert(args[1], v, f"{path}[{k!r}]")
                for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise ValueError(f"{where}{value!r} is not a {tp.__name__}") from None
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ValueError(f"{where}expected a JSON object for {tp.__name__}, got {value!r}")
        fields = dict(record_fields(tp))
        unknown = set(value) - set(fields)
        if unknown:
            raise ValueError(f"{where}unknown field(s) {', '.join(sorted(unknown))} for {tp.__name__}")
        kwargs = {}
        for name, annotation in fields.items():
            if name in value:
                kwargs[name] = _convert(annotation, value[name], f"{path}.{name}" if path else name)
        try:
            return tp(**kwargs)
        except TypeError as e:
            raise ValueError(f"{where}{e}") from None
    return value
