"""State schemas from Python types.

`describe(T)` walks a dataclass or pydantic model (v1 or v2) and returns two equal views of
its schema: the nested-tuple description that the binding's codec follows, and the JSON form
stored beside the state (see src/state/state_schema.h). Unsupported types raise
SchemaError naming the field path.
"""

import dataclasses
import datetime
import enum
import json
import sys
import types
import typing
from typing import Any, Dict, List, Tuple

SCALARS = {bool: "bool", int: "int", float: "float", str: "str", bytes: "bytes",
           datetime.datetime: "datetime"}


class SchemaError(TypeError):
    def __init__(self, path: str, message: str):
        super().__init__(f"field {path}: {message}" if path else message)
        self.path = path
        self.detail = message


def record_flavor(cls: Any) -> Any:
    """'dataclass', 'pydantic2', 'pydantic1', or None for other types."""
    if not isinstance(cls, type):
        return None
    if hasattr(cls, "__pydantic_validator__") and hasattr(cls, "model_fields"):
        return "pydantic2"
    if hasattr(cls, "__fields__") and hasattr(cls, "parse_raw") and hasattr(cls, "construct"):
        return "pydantic1"
    if dataclasses.is_dataclass(cls):
        return "dataclass"
    return None


def record_fields(cls: type) -> List[Tuple[str, Any]]:
    """The (name, annotation) pairs of a record type, in declaration order."""
    flavor = record_flavor(cls)
    if flavor == "pydantic2":
        return [(name, f.annotation) for name, f in cls.model_fields.items()]
    module = sys.modules.get(cls.__module__)
    hints = typing.get_type_hints(cls, vars(module) if module else None)
    if flavor == "pydantic1":
        return [(name, hints.get(name, f.outer_type_)) for name, f in cls.__fields__.items()]
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls)]


def _allows_extra(cls: type, flavor: str) -> bool:
    """Whether a pydantic model keeps undeclared fields (extra="allow")."""
    if flavor == "pydantic2":
        return getattr(cls, "model_config", {}).get("extra") == "allow"
    if flavor == "pydantic1":
        extra = getattr(getattr(cls, "__config__", None), "extra", None)
        return getattr(extra, "value", extra) == "allow"
    return False


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _is_union(origin: Any) -> bool:
    return origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


def _describe(tp: Any, path: str, active: set) -> Tuple[tuple, Dict[str, Any]]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _describe(args[0], path, active)
    if tp in SCALARS:
        kind = SCALARS[tp]
        return (kind,), {"kind": kind}
    if _is_union(origin):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            d, s = _describe(rest[0], path, active)
            return ("optional", d), {"kind": "optional", "type": s}
        raise SchemaError(path, f"unions other than Optional[T] are not supported ({tp!r})")
    collections = {list: "list", set: "set", frozenset: "frozenset"}
    if origin in collections:
        if len(args) != 1:
            raise SchemaError(path, f"{origin.__name__} needs an item type, e.g. {origin.__name__}[str]")
        d, s = _describe(args[0], path + "[]", active)
        kind = collections[origin]
        return (kind, d), {"kind": kind, "items": s}
    if tp in collections or tp in (tuple, dict):
        example = {dict: "dict[str, int]", tuple: "tuple[str, ...] or tuple[str, int]"}.get(
            tp, f"{tp.__name__}[str]")
        raise SchemaError(path, f"{tp.__name__} needs item types, e.g. {example}")
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            d, s = _describe(args[0], path + "[]", active)
            return ("vartuple", d), {"kind": "vartuple", "items": s}
        if not args:
            raise SchemaError(path, "tuple needs item types")
        parts = [_describe(a, f"{path}[{i}]", active) for i, a in enumerate(args)]
        return ("tuple", [p[0] for p in parts]), {"kind": "tuple", "items": [p[1] for p in parts]}
    if origin is dict:
        if len(args) != 2:
            raise SchemaError(path, "dict needs key and value types, e.g. dict[str, int]")
        kd, ks = _describe(args[0], path + "[key]", active)
        vd, vs = _describe(args[1], path + "[]", active)
        return ("dict", kd, vd), {"kind": "dict", "keys": ks, "values": vs}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = [m.value for m in tp]
        if all(isinstance(v, str) for v in values):
            value_kind = "str"
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            value_kind = "int"
        else:
            raise SchemaError(path, f"enum {tp.__name__} must have all-str or all-int values")
        return ("enum", tp, value_kind), {"kind": "enum", "name": tp.__name__,
                                          "value_kind": value_kind, "values": values}
    flavor = record_flavor(tp)
    if flavor is not None:
        if tp in active:
            raise SchemaError(path, f"{tp.__name__} contains itself; recursive state types are not supported")
        if _allows_extra(tp, flavor):
            raise SchemaError(path, f"{tp.__name__} allows extra fields (extra=\"allow\"), which "
                              "have no declared type, so its state could not be stored and read "
                              "back; declare each field, and drop extra=\"allow\" (the default "
                              "\"ignore\" and \"forbid\" work)")
        active.add(tp)
        try:
            fields = record_fields(tp)
        except Exception as e:  # unresolvable forward references and the like
            raise SchemaError(path, f"cannot read the fields of {tp.__name__}: {e}") from e
        described, schema_fields = [], []
        for name, annotation in fields:
            d, s = _describe(annotation, _join(path, name), active)
            described.append((name, d))
            schema_fields.append({"name": name, "type": s})
        active.discard(tp)
        return ("record", tp, flavor, described), {"kind": "record", "name": tp.__name__,
                                                   "fields": schema_fields}
    raise SchemaError(path, f"type {_type_name(tp)} is not supported in state; use str, int, float, "
                      "bool, bytes, datetime, Optional, list, set, frozenset, tuple, dict, "
                      "Enum, or a nested dataclass or pydantic model")


def describe(tp: Any) -> Tuple[tuple, str]:
    """(codec description, schema JSON) of a record type. Raises SchemaError."""
    if record_flavor(tp) is None:
        raise SchemaError("", f"{_type_name(tp)} is neither a dataclass nor a pydantic model")
    description, schema = _describe(tp, "", set())
    return description, json.dumps(schema, separators=(",", ":"))
