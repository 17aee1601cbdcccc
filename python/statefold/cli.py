"""The `statefold` command: run resolvers, query features, inspect state and dead letters."""

import argparse
import gc
import json
import os
import signal
import sys
import time
from typing import Any, Dict, List, Optional

from .client import Client
from .errors import DefinitionError, NotFoundError, StatefoldError
from .runtime import DEFAULT_STATE_DIR, bind_sources, load_all_definitions, run


def _source_bindings(values: List[str]) -> Dict[str, str]:
    bindings = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise DefinitionError(f"--source takes NAME=PATH, got {value!r}")
        bindings[name] = path
    return bindings


def _summary(stats: Dict[str, Any], stopped: bool) -> str:
    rate = stats["messages"] / stats["seconds"] if stats["seconds"] > 0 else 0.0
    prefix = "stopped" if stopped else "done"
    return (f"{prefix}: {stats['messages']:,} messages, {stats['keys']:,} keys, "
            f"{stats['outputs']:,} outputs, {stats['dead_letters']:,} dead letters "
            f"in {stats['seconds']:.2f} s ({rate:,.0f} messages/s)")


def _online_store(args: argparse.Namespace) -> str:
    """--online-store, else $STATEFOLD_ONLINE_STORE, else the state directory's own store."""
    if args.online_store is not None:
        return args.online_store
    return os.environ.get("STATEFOLD_ONLINE_STORE", "")


def cmd_run(args: argparse.Namespace) -> int:
    resolvers = load_all_definitions(args.definitions)
    sources = bind_sources(resolvers, args.input, _source_bindings(args.source), args.stop_at_end)
    options = {"batch_size": args.batch_size, "checkpoint_every_messages": args.checkpoint_messages,
               "checkpoint_every_ms": args.checkpoint_ms, "sync": args.sync,
               "online_store": _online_store(args)}
    # SIGINT and SIGTERM only set a flag, which the engine reads between batches: it then
    # checkpoints and returns. (A raising handler would surface inside a resolver call.)
    stop_requested = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda s, f: stop_requested.append(s))
    # Definitions, pydantic and the rest of the import-time heap never become garbage: keep
    # them out of the cyclic collector's passes over the long run.
    gc.freeze()
    stats = run(resolvers, sources, args.state_dir, options, should_stop=lambda: bool(stop_requested))
    print(_summary(stats, bool(stop_requested)))
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    client = Client(args.state_dir, follow=False, online_store=_online_store(args))
    values = client.get_with_times(args.namespace, args.id) if args.times else client.get(args.namespace, args.id)
    print(json.dumps(values))
    return 0


def cmd_state(args: argparse.Namespace) -> int:
    client = Client(args.state_dir, follow=False)
    if args.state_command == "get":
        print(json.dumps(client.state(args.resolver, args.key)))
    elif args.state_command == "list":
        for key in client.state_keys(args.resolver, args.limit):
            print(key)
    elif args.state_command == "reset":
        client.reset_state(args.resolver)
        print(f"reset the state of {args.resolver}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    status = Client(args.state_dir, follow=False).status()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    run_info = status["run"]
    age = max(0.0, time.time() - status["updated_ms"] / 1000)
    print(f"last checkpoint {age:.0f} s ago, in a run started "
          f"{max(0.0, time.time() - run_info['started_ms'] / 1000):.0f} s ago")
    print(f"run: {run_info['messages']:,} messages, {run_info['outputs']:,} outputs, "
          f"{run_info['resolver_errors']:,} resolver errors, {run_info['dead_letters']:,} dead letters, "
          f"{run_info['checkpoints']:,} checkpoints (previous commit {run_info['last_checkpoint_commit_ms']:.1f} ms)")
    for source, source_status in status["sources"].items():
        if source_status["skipped_late"]:
            print(f"source {source}: {source_status['skipped_late']:,} late records skipped")
        partitions = source_status["partitions"]
        for partition, p in sorted(partitions.items(), key=lambda item: int(item[0])):
            lag = "unknown" if p["lag"] is None else f"{p['lag']:,}"
            print(f"source {source} partition {partition}: next offset {p['next_offset']:,}, lag {lag}")
    for resolver, r in status["resolvers"].items():
        print(f"resolver {resolver}: {r['keys']:,} keys")
    return 0


def cmd_dead_letters(args: argparse.Namespace) -> int:
    for record in Client(args.state_dir, follow=False).dead_letters(args.limit):
        print(json.dumps(record))
    return 0


ONLINE_STORE_HELP = ("where feature values live: 'embedded' (the state directory, the default) or "
                     "redis://[:password@]host[:port][/db]; default $STATEFOLD_ONLINE_STORE")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="statefold", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def with_state_dir(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--state-dir", default=DEFAULT_STATE_DIR,
                        help=f"state directory (default {DEFAULT_STATE_DIR})")
        return sp

    r = with_state_dir(sub.add_parser(
        "run", help="process a stream through the resolvers of DEFS.py files and native modules"))
    r.add_argument("definitions", metavar="DEFS.py|MODULE.so", nargs="+",
                   help="Python definitions, or native modules (include/statefold/native.h)")
    r.add_argument("--input", help="JSON Lines file for the resolvers' source")
    r.add_argument("--source", action="append", default=[], metavar="NAME=PATH",
                   help="bind a named source to a file (repeatable)")
    r.add_argument("--stop-at-end", action="store_true",
                   help="Kafka: exit once every assigned partition is caught up")
    r.add_argument("--batch-size", type=int, default=1024)
    r.add_argument("--checkpoint-messages", type=int, default=2000000,
                   help="checkpoint at least every N messages")
    r.add_argument("--checkpoint-ms", type=int, default=5000, help="checkpoint at least every T ms")
    r.add_argument("--sync", action="store_true", help="fsync each checkpoint (power-loss safety)")
    r.add_argument("--online-store", metavar="URL", help=ONLINE_STORE_HELP)
    r.set_defaults(func=cmd_run)

    g = with_state_dir(sub.add_parser("get", help="print the online features of one entity"))
    g.add_argument("namespace")
    g.add_argument("id")
    g.add_argument("--times", action="store_true", help="include feature times and offsets")
    g.add_argument("--online-store", metavar="URL", help=ONLINE_STORE_HELP)
    g.set_defaults(func=cmd_get)

    s = sub.add_parser("state", help="inspect or reset resolver state")
    ssub = s.add_subparsers(dest="state_command", required=True)
    sg = with_state_dir(ssub.add_parser("get", help="print the state of one key as JSON"))
    sg.add_argument("resolver")
    sg.add_argument("key")
    sl = with_state_dir(ssub.add_parser("list", help="list the keys that have state"))
    sl.add_argument("resolver")
    sl.add_argument("--limit", type=int, default=1000)
    sr = with_state_dir(ssub.add_parser("reset", help="delete all state of a resolver"))
    sr.add_argument("resolver")
    s.set_defaults(func=cmd_state)

    st = with_state_dir(sub.add_parser("status", help="metrics of the last checkpoint: counters, lag"))
    st.add_argument("--json", action="store_true", help="print the raw JSON")
    st.set_defaults(func=cmd_status)

    d = with_state_dir(sub.add_parser("dead-letters", help="print dead-letter records as JSON Lines"))
    d.add_argument("--limit", type=int, default=1000)
    d.set_defaults(func=cmd_dead_letters)
    return p


def main(argv: Optional[List[str]] = None) -> None:
    args = parser().parse_args(argv)
    try:
        code = args.func(args)
    except NotFoundError as e:
        print(f"statefold: {e}", file=sys.stderr)
        code = 1
    except StatefoldError as e:
        print(f"statefold: {e}", file=sys.stderr)
        code = 2
    sys.exit(code)
