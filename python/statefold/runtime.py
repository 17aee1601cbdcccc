"""Loading resolver definitions and running them on the engine."""

import importlib.util
import os
import sys
import traceback
from typing import Any, Callable, Dict, List, Optional, Sequence

from . import _ext
from .options import engine_options as _checked_engine_options
from .errors import DefinitionError, StatefoldError
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
    try:
        spec.loader.exec_module(module)
    except StatefoldError:
        sys.modules.pop(module_name, None)
        raise  # a DefinitionError names the resolver, its file and line already
    except Exception as e:
        sys.modules.pop(module_name, None)
        raise DefinitionError(_import_failure(path, e)) from None
    resolvers = [v for v in vars(module).values() if isinstance(v, StreamResolver)]
    if not resolvers:
        raise DefinitionError(f"{path} defines no @stream resolvers")
    check_unique_names(resolvers)
    return resolvers


def _import_failure(path: str, error: Exception) -> str:
    """Where and why importing the definitions file failed: the user's file and line, the
    error, and the line's text."""
    if isinstance(error, SyntaxError) and error.filename:
        where = f"{error.filename}:{error.lineno}"
        text = (error.text or "").rstrip("\n")
        detail = f"\n    {text.strip()}" if text.strip() else ""
        return f"{where}: {type(error).__name__}: {error.msg}{detail}"
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if not f.filename.startswith("<frozen ") and
              not os.path.abspath(f.filename).startswith(_PACKAGE_DIR)]
    # The definitions file's own line where it has one, else the innermost user frame (a
    # module it imports).
    own = [f for f in frames if os.path.abspath(f.filename) == path]
    frame = (own or frames or [None])[-1]
    where = f"{frame.filename}:{frame.lineno}" if frame else path
    detail = f"\n    {frame.line}" if frame is not None and frame.line else ""
    importing = "" if frame is not None and frame.filename == path else f" (importing {path})"
    return f"{where}: {type(error).__name__}: {error}{importing}{detail}"


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


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


def engine_options(**settings: Any) -> Any:
    """An _ext.EngineOptions (include/statefold/engine.h) with `settings` set: state_dir,
    batch_size, checkpoint_every_messages, checkpoint_every_ms, state_cache_entries,
    max_message_bytes, sync, online_store ("embedded" or a redis:// URL). A name that is not
    an option raises TypeError naming the closest one, and a value of the wrong type or out of
    range (statefold.options.ENGINE_INT_OPTIONS) InvalidArgumentError."""
    return _checked_engine_options("engine_options()", settings)


def file_source(name: str, path: str) -> Any:
    """The engine's description of a JSON Lines file source."""
    return _ext.FileSourceOptions(name=name, path=path)


def bind_sources(
    resolvers: Sequence[Any],
    input_path: Optional[str],
    bindings: Dict[str, str],
    stop_at_end: bool = False,
) -> List[Any]:
    """The engine's source descriptions for a run (_ext.FileSourceOptions and
    _ext.KafkaSourceOptions). A source reads, in order of precedence: the file of
    `--source NAME=PATH`; the `--input` file (when one source is left); a
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
            result.append(file_source(name, bindings[name]))
        elif isinstance(source, FileSource) and source.path and input_path is None:
            result.append(file_source(name, source.path))
        else:
            unbound.append(name)
    if input_path is not None and unbound:
        if len(unbound) > 1:
            raise DefinitionError(
                f"--input is ambiguous with several sources ({', '.join(unbound)}): "
                "bind each with --source NAME=FILE"
            )
        result.append(file_source(unbound.pop(), input_path))
    for name in unbound:
        source = next(r.source for r in resolvers if r.source_name == name)
        readers = [r for r in resolvers if r.source_name == name]
        kafka = (kafka_source_description(source, [r.name for r in readers], stop_at_end)
                 if isinstance(source, KafkaSource) else None)
        if kafka is None:
            raise DefinitionError(
                f"no input for source {name}: pass --input FILE, or configure its Kafka "
                f"bootstrap server ({env_prefix(name)}BOOTSTRAP_SERVER or statefold.toml)"
            )
        if not kafka.single_worker:
            _refuse_rekeyed_state(name, kafka.group_id, readers)
        result.append(kafka)
    return result


def _refuse_rekeyed_state(source: str, group: str, readers: Sequence[Any]) -> None:
    """A stateful resolver keyed by a message field (`keys=`) over a Kafka topic read in a
    group: one key's messages are in several partitions, which several workers own, so its
    state would be split between them. Refused, unless the source declares one worker."""
    for r in readers:
        spec = r.engine_resolver.spec
        if spec.stateful and spec.key_path:
            raise DefinitionError(
                f"resolver {r.name} keys its state by message field {'.'.join(spec.key_path)} "
                f"(keys=), not by the Kafka message key: in consumer group {group} one key's "
                "messages are in several partitions, and with several workers its state would "
                "be split between them (statefold does not repartition a topic yet). Produce "
                "the topic keyed by that field and drop keys=, or, if this group only ever has "
                f"one worker, set single_worker = true for source {source} ([kafka.{source}] in "
                f"statefold.toml, or {env_prefix(source)}SINGLE_WORKER=1)"
            )


_RUN_STATS = ("messages", "outputs", "dead_letters", "resolver_errors", "keys", "checkpoints",
              "seconds", "refused")


def run(
    resolvers: Sequence[Any],
    sources: Sequence[Any],
    options: Any,
    on_feature: Optional[Callable[..., None]] = None,
    should_stop: Optional[Callable[[], bool]] = None,
) -> Dict[str, Any]:
    """Runs `resolvers` (StreamResolvers and native ones) over `sources` (descriptions from
    bind_sources) with `options` (from engine_options) to their end, or until `should_stop()`
    (asked between batches) returns true; either way the run ends with a checkpoint, unless
    the online store is unreachable then: the run ends without it (an AbortedError, or the
    interrupt that stopped it) and the next run redoes that epoch. Returns run stats:
    messages, outputs, dead_letters, resolver_errors, keys, checkpoints, seconds, and refused:
    (source, partition, reason) for each partition assigned to this process that it did not
    read, because its state is in another worker's state directory (Kafka)."""
    check_unique_names(resolvers)
    stats = _ext.run(options, list(sources), [r.engine_resolver for r in resolvers], on_feature,
                     should_stop)
    return {name: getattr(stats, name) for name in _RUN_STATS}
