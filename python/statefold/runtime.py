"""Loading resolver definitions and running them on the engine."""

import importlib.util
import os
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence

from . import _ext
from .errors import DefinitionError
from .native import load_native_module
from .config import env_prefix, kafka_source_description
from .sources import FileSource, KafkaSource
from .streams import StreamResolver

DEFAULT_STATE_DIR = ".statefold"


def load_definitions(path: str) -> List[Any]:
    """Imports a definitions file (Python) or loads a native module (a shared library, see
    include/statefold/native.h) and returns the stream resolvers it defines, in order."""
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise DefinitionError(f"definitions file {path} does not exist")
    if path.endswith(".so") or ".so." in os.path.basename(path):
        return load_native_module(path)
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


def load_all_definitions(paths: Sequence[str]) -> List[Any]:
    """The resolvers of several definitions files and native modules, run together."""
    resolvers = [r for path in paths for r in load_definitions(path)]
    check_unique_names(resolvers)
    return resolvers


def check_unique_names(resolvers: Sequence[Any]) -> None:
    seen: Dict[str, Any] = {}
    for r in resolvers:
        if r.name in seen:
            raise DefinitionError(
                f"two resolvers are named {r.name} ({seen[r.name].location} and {r.location}); "
                "pass name= to @stream to tell them apart"
            )
        seen[r.name] = r


def bind_sources(
    resolvers: Sequence[StreamResolver],
    input_path: Optional[str],
    bindings: Dict[str, str],
    stop_at_end: bool = False,
) -> List[Dict[str, Any]]:
    """The engine's source descriptions for a run. A source reads, in order of precedence: the
    file of `--source NAME=PATH`; the `--input` file (when one source is left); a
    `FileSource(path=...)`; its Kafka topic, when a bootstrap server is configured."""
    names = list(dict.fromkeys(r.source_name for r in resolvers))
    unknown = set(bindings) - set(names)
    if unknown:
        raise DefinitionError(
            f"--source names {', '.join(sorted(unknown))}, but the resolvers read {', '.join(names)}"
        )
    result = []
    unbound = []
    for name in names:
        source = next(r.source for r in resolvers if r.source_name == name)
        if name in bindings:
            result.append({"kind": "file", "name": name, "path": bindings[name]})
        elif isinstance(source, FileSource) and source.path and input_path is None:
            result.append({"kind": "file", "name": name, "path": source.path})
        else:
            unbound.append(name)
    if input_path is not None and unbound:
        if len(unbound) > 1:
            raise DefinitionError(
                f"--input is ambiguous with several sources ({', '.join(unbound)}): "
                "bind each with --source NAME=FILE"
            )
        result.append({"kind": "file", "name": unbound.pop(), "path": input_path})
    for name in unbound:
        source = next(r.source for r in resolvers if r.source_name == name)
        readers = [r.name for r in resolvers if r.source_name == name]
        kafka = (kafka_source_description(source, readers, stop_at_end)
                 if isinstance(source, KafkaSource) else None)
        if kafka is None:
            raise DefinitionError(
                f"no input for source {name}: pass --input FILE, or configure its Kafka "
                f"bootstrap server ({env_prefix(name)}BOOTSTRAP_SERVER or statefold.toml)"
            )
        result.append(kafka)
    return result


def run(
    resolvers: Sequence[StreamResolver],
    sources: Sequence[tuple],
    state_dir: str = DEFAULT_STATE_DIR,
    options: Optional[Dict[str, Any]] = None,
    on_feature: Optional[Callable[..., None]] = None,
    should_stop: Optional[Callable[[], bool]] = None,
) -> Dict[str, Any]:
    """Runs `resolvers` over `sources` (descriptions from bind_sources) to their end, or until
    `should_stop()` (asked between batches) returns true; either way the run ends with a
    checkpoint, unless the online store is unreachable then: the run ends without it (a
    StatefoldError, or the interrupt that stopped it) and the next run redoes that epoch.
    `options` takes batch_size, checkpoint_every_messages, checkpoint_every_ms,
    state_cache_entries, max_message_bytes, sync and online_store ("embedded" or a redis://
    URL). Returns run stats."""
    check_unique_names(resolvers)
    return _ext.run(
        state_dir, list(sources), [r.engine_spec() for r in resolvers], dict(options or {}),
        on_feature, should_stop,
    )
