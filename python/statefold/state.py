"""`State[T]`: marks the resolver parameter that receives the per-key state object."""

from typing import Annotated, Any, get_args, get_origin


class _StateMarker:
    __slots__ = ()

    def __repr__(self) -> str:
        return "statefold.State"


STATE_MARKER = _StateMarker()


class State:
    """`state: State[LoginState]` gives a resolver the live state object of its message's key.

    For type checkers `State[T]` is `T` (it is `Annotated[T, ...]`), so attribute access on
    the state is checked as usual.
    """

    def __class_getitem__(cls, item: Any) -> Any:
        return Annotated[item, STATE_MARKER]


def state_type(annotation: Any) -> Any:
    """The T of a `State[T]` annotation, or None when the annotation is not a State."""
    if get_origin(annotation) is Annotated:
        args = get_args(annotation)
        if any(a is STATE_MARKER for a in args[1:]):
            return args[0]
    return None
