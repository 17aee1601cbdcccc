"""Feature classes: `@features class User: id: str; unique_ip_count: int`.

`User.unique_ip_count` is a `Feature` (its fully qualified name is "user.unique_ip_count");
`User(id="u1", unique_ip_count=3)` is a row of feature values that a resolver returns.
`Features[User.id, User.unique_ip_count]` declares a resolver's outputs.
"""

import re
import sys
import typing
from typing import Any, Dict, Optional, Tuple

from .errors import DefinitionError


class _PrimaryMarker:
    __slots__ = ()


_PRIMARY_MARKER = _PrimaryMarker()


class Primary:
    """`id: Primary[str]` marks the primary key when it is not named `id`."""

    def __class_getitem__(cls, item: Any) -> Any:
        return typing.Annotated[item, _PRIMARY_MARKER]


class Feature:
    """One feature of a feature class. Class attribute access yields it; instances hold values."""

    __slots__ = ("name", "namespace", "annotation", "primary", "owner")

    def __init__(self, name: str, namespace: str, annotation: Any, primary: bool, owner: type):
        self.name = name
        self.namespace = namespace
        self.annotation = annotation
        self.primary = primary
        self.owner = owner

    @property
    def fqn(self) -> str:
        return f"{self.namespace}.{self.name}"

    def __get__(self, instance: Any, owner: type) -> Any:
        if instance is None:
            return self
        raise AttributeError(f"{self.fqn} has no value in this {owner.__name__} row")

    def __repr__(self) -> str:
        return f"Feature({self.fqn})"

    def value_kind(self) -> Tuple[str, bool]:
        """The kind checked for each value ('int', 'float', 'str', 'bool' or 'any') and
        whether None is allowed."""
        annotation = self.annotation
        nullable = False
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) in (typing.Union, _union_type()) and type(None) in args:
            nullable = True
            rest = [a for a in args if a is not type(None)]
            annotation = rest[0] if len(rest) == 1 else Any
        kind = {int: "int", float: "float", str: "str", bool: "bool"}.get(annotation, "any")
        return kind, nullable or kind == "any"


def _union_type() -> Any:
    import types

    return getattr(types, "UnionType", typing.Union)


def namespace_of(cls_name: str) -> str:
    """`UserProfile` -> `user_profile`, Chalk's namespace convention."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls_name).lower()


def features(cls: Optional[type] = None, *, name: Optional[str] = None) -> Any:
    """Turns an annotated class into a feature class (`@features` or `@features(name=...)`)."""

    def wrap(c: type) -> type:
        return _make_feature_class(c, name)

    return wrap(cls) if cls is not None else wrap


def _make_feature_class(cls: type, name: Optional[str]) -> type:
    namespace = name or namespace_of(cls.__name__)
    module = sys.modules.get(cls.__module__)
    hints = typing.get_type_hints(cls, vars(module) if module else None, include_extras=True)
    if not hints:
        raise DefinitionError(f"feature class {cls.__name__} declares no features")
    declared: Dict[str, Feature] = {}
    primary = None
    for feature_name, annotation in hints.items():
        is_primary = typing.get_origin(annotation) is typing.Annotated and any(
            a is _PRIMARY_MARKER for a in typing.get_args(annotation)[1:]
        )
        feature = Feature(feature_name, namespace, annotation, is_primary, cls)
        declared[feature_name] = feature
        if is_primary:
            primary = feature
    if primary is None and "id" in declared:
        primary = declared["id"]
        primary.primary = True
    if primary is None:
        raise DefinitionError(
            f"feature class {cls.__name__} has no primary key: name a feature `id` or "
            "annotate one with Primary[...]"
        )
    class_name = cls.__name__
    __init__ = _make_init(class_name, list(declared))

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{class_name}({inner})"

    def __eq__(self: Any, other: Any) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    namespace_dict: Dict[str, Any] = {
        "__init__": __init__,
        "__repr__": __repr__,
        "__eq__": __eq__,
        "__hash__": None,
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
        "__statefold_namespace__": namespace,
        "__statefold_primary__": primary,
        "__statefold_features__": declared,
    }
    namespace_dict.update(declared)
    result = type(cls.__name__, (), namespace_dict)
    for feature in declared.values():
        feature.owner = result
    return result


_UNSET = object()


def _make_init(class_name: str, names: list) -> Any:
    """`__init__(self, *, id=_UNSET, ...)` storing the given values: keyword-only parameters
    make a misspelled feature a TypeError, and avoid building a kwargs dict per row."""
    for name in names:
        if not name.isidentifier():
            raise DefinitionError(f"feature {class_name}.{name} is not a valid identifier")
    params = ", ".join(f"{n}=_UNSET" for n in names)
    body = "\n".join(f"    if {n} is not _UNSET: d[{n!r}] = {n}" for n in names)
    source = f"def __init__(self, *, {params}):\n    d = self.__dict__\n{body}\n"
    scope: Dict[str, Any] = {"_UNSET": _UNSET}
    exec(source, scope)
    init = scope["__init__"]
    init.__qualname__ = f"{class_name}.__init__"
    return init


class FeaturesSpec:
    """The value of `Features[...]`: the features a resolver declares it returns."""

    def __init__(self, items: Tuple[Any, ...]):
        resolved = []
        for item in items:
            if isinstance(item, Feature):
                resolved.append(item)
            elif isinstance(item, type) and hasattr(item, "__statefold_features__"):
                resolved.extend(item.__statefold_features__.values())
            else:
                raise DefinitionError(f"Features[...] takes features such as User.id, got {item!r}")
        self.features: Tuple[Feature, ...] = tuple(resolved)

    def __repr__(self) -> str:
        return "Features[" + ", ".join(f.fqn for f in self.features) + "]"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # lets typing accept it as a type
        raise TypeError("Features[...] is an annotation, not a constructor")


class Features:
    """`Features[User.id, User.unique_ip_count]` annotates what a resolver returns."""

    def __class_getitem__(cls, items: Any) -> FeaturesSpec:
        if not isinstance(items, tuple):
            items = (items,)
        return FeaturesSpec(items)
