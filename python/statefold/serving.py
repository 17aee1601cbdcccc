"""Serving features over HTTP: starts the engine's C++ server (src/serve) from Python.

The server runs on its own threads and never takes the GIL; `statefold serve` and
`statefold run --serve` use it. Routes, metrics and errors are in docs/operations.md.
"""

from typing import Any, Optional

from . import _ext
from .errors import InvalidArgumentError
from .options import MAX_PORT, check_int

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
MAX_SERVE_THREADS = 256


def start_server(
    state_dir: Optional[str] = None,
    online_store: Optional[str] = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: Optional[str] = None,
    threads: int = 2,
    wait_for_state_dir: bool = False,
) -> Any:
    """Starts serving and returns the server (`.port`, `.stop()`).

    `state_dir` holds the embedded online store and the engine's metrics; `online_store` names
    another store ("redis://..."). Port 0 picks a free port. With `wait_for_state_dir`, a state
    directory that does not exist yet is opened once the engine creates it (feature reads answer
    503 until then); otherwise a missing one raises NotFoundError. `token` None serves without
    a token; an empty one, a port outside 0..65535 or threads outside 1..256 raise
    InvalidArgumentError.
    """
    if token == "":
        raise InvalidArgumentError("the token is empty, so the server would answer without "
                                   "one: give a token, or None to serve without a token")
    port = check_int("port", port, 0, MAX_PORT)
    threads = check_int("threads", threads, 1, MAX_SERVE_THREADS)
    options = _ext.FeatureServiceOptions()
    options.state_dir = state_dir or ""
    options.online_store_url = online_store or ""
    options.token = token or ""
    options.wait_for_state_dir = wait_for_state_dir
    options.http.host = host
    options.http.port = port
    options.http.threads = threads
    return _ext.FeatureServer.start(options)


def server_url(host: str, port: int) -> str:
    """`http://HOST:PORT`, with an IPv6 address in brackets."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
