"""Loading resolver definitions and running them on the engine."""

import importlib.util
import os
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence

from . import _ext
from .errors import DefinitionError
from .sources import FileSource
from .streams import StreamResolver

DEFAULT_STATE_DIR = ".statefold"


def load_definitions(path: str) -> List[StreamResolver]:
    """Imports a definitions file and returns the stream resolvers it defines, in order."""
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise DefinitionError(f"definitions file {path} does not exist")
    directory = os.path.dirname(path)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    module_name = "statefold_definitions_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise DefinitionError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    resolvers = [v for v in vars(module).values() if isinstance(v, StreamResolver)]
    if not resolvers:
        raise DefinitionError(f"{path} defines no @stream resolvers")
    check_unique_names(resolvers)
    return resolvers


def check_unique_names(resolvers: Sequence[StreamResolver]) -> None:
    seen: Dict[str, StreamResolver] = {}
    for r in resolvers:
        if r.name in seen:
            raise DefinitionError(
                f"two resolvers are named {r.name} ({seen[r.name].location} and {r.location}); "
                "pass name= to @stream to tell them apart"
            )
        seen[r.name] = r


def bind_sources(
    resolvers: Sequence[StreamResolver], input_path: Optional[str], bindings: Dict[str, str]
) -> List[tuple]:
    """The (source name, file path) pairs for a run: --source NAME=PATH bindings, then
    --input for a single remaining source, then FileSource(path=...) defaults."""
    names = list(dict.fromkeys(r.source_name for r in resolvers))
    unknown = set(bindings) - set(names)
    if unknown:
        raise DefinitionError(
            f"--source names {', '.join(sorted(unknown))}, but the resolvers read {', '.join(names)}"
        )
    result = []
    unbound = []
    for name in names:
        if name in bindings:
            result.append((name, bindings[name]))
            continue
        source = next(r.source for r in resolvers if r.source_name == name)
        if isinstance(source, FileSource) and source.path and input_path is None:
            result.append((name, source.path))
        else:
            unbound.append(name)
    if unbound:
        if input_path is None:
            raise DefinitionError(f"no input for source(s) {', '.join(unbound)}: pass --input FILE")
        if len(unbound) > 1:
            raise DefinitionError(
                f"--input is ambiguous with several sources ({', '.join(unbound)}): "
                "bind each with --source NAME=FILE"
            )
        result.append((unbound[0], input_path))
    return result


def run(
    resolvers: Sequence[StreamResolver],
    sources: Sequence[tuple],
    state_dir: str = DEFAULT_STATE_DIR,
    options: Optional[Dict[str, Any]] = None,
    on_feature: Optional[Callable[..., None]] = None,
    should_stop: Optional[Callable[[], bool]] = None,
) -> Dict[str, Any]:
    """Runs `resolvers` over `sources` ((name, path) pairs) to their end, or until
    `should_stop()` (asked between batches) returns true; either way the run ends with a
    checkpoint. Returns run stats."""
    check_unique_names(resolvers)
    return _ext.run(
        state_dir, list(sources), [r.engine_spec() for r in resolvers], dict(options or {}),
        on_feature, should_stop,
    )
