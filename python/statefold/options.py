"""Checks of the options given to statefold's public API and to the `statefold` command, in
one place: every integer option is range-checked here (`check_int`, and `int_option` for the
command line), and every API that takes keyword options names a misspelt one (`check_keywords`).
"""

import argparse
import difflib
from typing import Any, Callable, Iterable, Mapping

from . import _ext
from .errors import InvalidArgumentError

# The largest count or duration any option takes (include/statefold/engine.h).
MAX_OPTION_VALUE = _ext.MAX_OPTION_VALUE
MAX_PORT = 65535

# The range of each integer engine option (_ext.EngineOptions); ValidateEngineOptions in
# src/engine/engine.cc checks the same ranges (test_engine_option_ranges_agree_with_the_engine).
ENGINE_INT_OPTIONS = {
    "batch_size": (1, _ext.MAX_BATCH_SIZE),
    "checkpoint_every_messages": (1, MAX_OPTION_VALUE),
    "checkpoint_every_ms": (0, MAX_OPTION_VALUE),
    "state_cache_entries": (0, MAX_OPTION_VALUE),
    "max_message_bytes": (1, MAX_OPTION_VALUE),
}
ENGINE_OTHER_OPTIONS = ("state_dir", "sync", "online_store")


def range_text(minimum: int, maximum: int) -> str:
    if maximum >= MAX_OPTION_VALUE:
        return f"an integer of at least {minimum}"
    return f"an integer from {minimum} to {maximum}"


def check_int(name: str, value: Any, minimum: int, maximum: int = MAX_OPTION_VALUE) -> int:
    """`value` when it is an int within [minimum, maximum]; InvalidArgumentError naming the
    option and its range otherwise (a bool is not an int here)."""
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise InvalidArgumentError(f"{name} must be {range_text(minimum, maximum)}, got {value!r}")
    return value


def int_option(minimum: int, maximum: int = MAX_OPTION_VALUE) -> Callable[[str], int]:
    """An argparse `type=` for an integer option in [minimum, maximum]: argparse reports a
    value outside it as `argument --NAME: must be ...` and exits with status 2."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be {range_text(minimum, maximum)}, got {text!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be {range_text(minimum, maximum)}, got {value}")
        return value

    parse.__name__ = "integer"  # argparse names the type in some messages
    parse.statefold_range = (minimum, maximum)  # type: ignore[attr-defined]
    return parse


def check_keywords(api: str, given: Iterable[str], valid: Iterable[str]) -> None:
    """TypeError for the first name of `given` that is not in `valid`, naming the closest
    valid one: `StreamTester() got an unknown option 'bach_size'; did you mean 'batch_size'?`"""
    valid = list(valid)
    for name in given:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"{api} got an unknown option {name!r}{hint} "
                            f"(its options: {', '.join(sorted(valid))})")


def engine_options(api: str, settings: Mapping[str, Any]) -> Any:
    """An _ext.EngineOptions with `settings` set, each checked: an unknown name is a TypeError
    naming the closest option, an integer out of range an InvalidArgumentError."""
    check_keywords(api, settings, list(ENGINE_INT_OPTIONS) + list(ENGINE_OTHER_OPTIONS))
    options = _ext.EngineOptions()
    for name, value in settings.items():
        if name in ENGINE_INT_OPTIONS:
            value = check_int(name, value, *ENGINE_INT_OPTIONS[name])
        try:
            setattr(options, name, value)
        except TypeError:
            kind = "true or false" if name == "sync" else "a string"
            raise InvalidArgumentError(f"{name} must be {kind}, got {value!r}") from None
    _ext.validate_engine_options(options)
    return options
