"""The `statefold` command: run resolvers, serve and query features, inspect state and dead
letters."""

import argparse
import gc
import json
import os
import signal
import sys
import threading
import time
from typing import Any, Dict, List, Optional

from .client import Client, is_embedded_url
from . import _ext
from .errors import DefinitionError, InvalidArgumentError, NotFoundError, StatefoldError
from .options import MAX_PORT, int_option
from .runtime import DEFAULT_STATE_DIR, bind_sources, engine_options, load_all_definitions, run
from .serving import DEFAULT_HOST, DEFAULT_PORT, MAX_SERVE_THREADS, server_url, start_server

TOKEN_VARIABLE = "STATEFOLD_SERVE_TOKEN"


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
    options = engine_options(state_dir=args.state_dir, batch_size=args.batch_size,
                             checkpoint_every_messages=args.checkpoint_messages,
                             checkpoint_every_ms=args.checkpoint_ms, sync=args.sync,
                             online_store=_online_store(args))
    # SIGINT and SIGTERM only set a flag, which the engine reads between batches: it then
    # checkpoints and returns. (A raising handler would surface inside a resolver call.)
    stop_requested = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda s, f: stop_requested.append(s))
    # Definitions, pydantic and the rest of the import-time heap never become garbage: keep
    # them out of the cyclic collector's passes over the long run.
    gc.freeze()
    server = None
    if not args.serve and (args.host != DEFAULT_HOST or args.port != DEFAULT_PORT or args.token):
        raise DefinitionError("--host, --port and --token configure the server of --serve; "
                              "add --serve or drop them")
    if args.serve:
        # Started before the run, so features are served as soon as the first checkpoint
        # lands (the state directory may not exist yet: the engine creates it).
        server = start_server(state_dir=args.state_dir, online_store=options.online_store or None,
                              host=args.host, port=args.port, token=_token(args),
                              threads=args.serve_threads, wait_for_state_dir=True)
        print(f"serving on {server_url(args.host, server.port)}", flush=True)
    try:
        stats = run(resolvers, sources, options, should_stop=lambda: bool(stop_requested))
    finally:
        if server is not None:
            server.stop()
    print(_summary(stats, bool(stop_requested)))
    if stats["refused"] and args.stop_at_end:
        # The reasons went to stderr as each partition was refused.
        partitions = ", ".join(f"{source} partition {p}" for source, p, _ in stats["refused"])
        print(f"statefold: not read here: {partitions}: their state is in another worker's "
              "state directory (see above); the run did not reach the end of the input",
              file=sys.stderr)
        return 2
    return 0


def _token(args: argparse.Namespace) -> Optional[str]:
    """--token, else $STATEFOLD_SERVE_TOKEN, else None (no token); an empty one is refused,
    never taken for "no token"."""
    if args.token is not None:
        return args.token
    token = os.environ.get(TOKEN_VARIABLE)
    if token == "":
        raise InvalidArgumentError(f"{TOKEN_VARIABLE} is set but empty: set it to the token, "
                                   "or unset it to serve without one")
    return token


def _token_text(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("is empty: give the token, or leave --token out to "
                                         "serve without one")
    return text


def cmd_serve(args: argparse.Namespace) -> int:
    state_dir = args.state_dir
    online_store = _online_store(args)
    if is_embedded_url(online_store) and state_dir is None:
        state_dir = DEFAULT_STATE_DIR
    server = start_server(state_dir=state_dir, online_store=online_store or None, host=args.host,
                          port=args.port, token=_token(args), threads=args.threads)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda s, f: stop.set())
    print(f"serving on {server_url(args.host, server.port)}", flush=True)
    while not stop.wait(0.5):
        pass
    server.stop()
    print("stopped serving", flush=True)
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
        return _reset_state(client, args.resolver, args.yes)
    return 0


def _reset_state(client: Client, resolver: str, yes: bool) -> int:
    """`state reset`: says what is lost and, without --yes, asks first (exit 1 if not given)."""
    keys = client.stored_key_count(resolver)  # NotFoundError (exit 1) for an unknown resolver
    if not yes:
        print(f"statefold state reset {resolver} deletes the stored state of its {keys:,} keys. "
              "The source positions stay, so its state starts empty at the next message: the "
              "history before the current input position is lost for good (to rebuild it, run "
              "the whole input again into a new state directory).", file=sys.stderr)
        if not sys.stdin.isatty():
            print("statefold: nothing was reset: confirm with --yes", file=sys.stderr)
            return 1
        print(f"Reset {resolver}? [y/N] ", end="", file=sys.stderr, flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            print("statefold: nothing was reset", file=sys.stderr)
            return 1
    client.close()  # its reader of the directory, before the reset takes the lock
    client.reset_state(resolver)
    print(f"reset the state of {resolver} ({keys:,} keys)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    client = Client(args.state_dir, follow=False)
    if args.json:
        print(json.dumps(client.status(), indent=2))
        return 0
    status = client.run_status()
    age = max(0.0, time.time() - status.updated_ms / 1000)
    print(f"last checkpoint {age:.0f} s ago, in a run started "
          f"{max(0.0, time.time() - status.started_ms / 1000):.0f} s ago")
    print(f"run: {status.messages:,} messages, {status.outputs:,} outputs, "
          f"{status.resolver_errors:,} resolver errors, {status.dead_letters:,} dead letters, "
          f"{status.checkpoints:,} checkpoints (previous commit {status.last_checkpoint_commit_ms:.1f} ms)")
    for source in status.sources:
        if source.skipped_late:
            print(f"source {source.name}: {source.skipped_late:,} late records skipped")
        for p in sorted(source.partitions, key=lambda p: p.partition):
            lag = "unknown" if p.lag is None else f"{p.lag:,}"
            print(f"source {source.name} partition {p.partition}: next offset {p.next_offset:,}, lag {lag}")
        for r in sorted(source.refused, key=lambda r: r.partition):
            print(f"source {source.name} partition {r.partition}: refused: {r.reason}")
    for resolver in status.resolvers:
        print(f"resolver {resolver.name}: {resolver.keys:,} keys")
    return 0


def cmd_dead_letters(args: argparse.Namespace) -> int:
    records, more = Client(args.state_dir, follow=False).dead_letters_and_more(args.limit)
    for record in records:
        print(json.dumps(record))
    if more:  # on stderr: stdout stays JSON Lines
        print(f"… and {more:,} more (--limit {args.limit:,})", file=sys.stderr)
    return 0


ONLINE_STORE_HELP = ("where feature values live: 'embedded' (the state directory, the default) or "
                     "redis://[:password@]host[:port][/db]; default $STATEFOLD_ONLINE_STORE")


def add_server_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int_option(0, MAX_PORT), default=DEFAULT_PORT,
                   help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--token", type=_token_text, default=None,
                   help=f"require Authorization: Bearer TOKEN on every route but /healthz "
                        f"(or set {TOKEN_VARIABLE})")


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
    r.add_argument("--batch-size", type=int_option(1, _ext.MAX_BATCH_SIZE), default=1024,
                   help=f"records polled from a source at a time (1 to {_ext.MAX_BATCH_SIZE:,}; "
                        "default 1024)")
    r.add_argument("--checkpoint-messages", type=int_option(1), default=2000000,
                   help="checkpoint at least every N messages (N >= 1)")
    r.add_argument("--checkpoint-ms", type=int_option(0), default=5000,
                   help="checkpoint at least every T ms (0: after every batch)")
    r.add_argument("--sync", action="store_true", help="fsync each checkpoint (power-loss safety)")
    r.add_argument("--online-store", metavar="URL", help=ONLINE_STORE_HELP)
    r.add_argument("--serve", action="store_true",
                   help="also serve the features over HTTP while the run goes (see `statefold serve`)")
    add_server_arguments(r)
    r.add_argument("--serve-threads", type=int_option(1, MAX_SERVE_THREADS), default=2,
                   help=f"HTTP event-loop threads (1 to {MAX_SERVE_THREADS}; default 2)")
    r.set_defaults(func=cmd_run)

    sv = sub.add_parser("serve", help="serve features over HTTP (GET /v1/features/NS/ID, POST /v1/query, "
                                      "GET /metrics, GET /healthz)")
    sv.add_argument("--state-dir", default=None,
                    help=f"state directory: the embedded online store and the engine's metrics "
                         f"(default {DEFAULT_STATE_DIR})")
    sv.add_argument("--online-store", default=None, metavar="URL", help=ONLINE_STORE_HELP)
    add_server_arguments(sv)
    sv.add_argument("--threads", type=int_option(1, MAX_SERVE_THREADS), default=2,
                    help=f"event-loop threads (1 to {MAX_SERVE_THREADS}; default 2)")
    sv.set_defaults(func=cmd_serve)

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
    sl.add_argument("--limit", type=int_option(0), default=1000, help="at most N keys (default 1000)")
    sr = with_state_dir(ssub.add_parser(
        "reset", help="delete all state of a resolver (its history before the current input "
                      "position is lost: the source positions stay)"))
    sr.add_argument("resolver")
    sr.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    s.set_defaults(func=cmd_state)

    st = with_state_dir(sub.add_parser("status", help="metrics of the last checkpoint: counters, lag"))
    st.add_argument("--json", action="store_true", help="print the raw JSON")
    st.set_defaults(func=cmd_status)

    d = with_state_dir(sub.add_parser("dead-letters", help="print dead-letter records as JSON Lines"))
    d.add_argument("--limit", type=int_option(0), default=1000,
                   help="at most N records (default 1000)")
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
