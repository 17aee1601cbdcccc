"""`statefold.Client`: read features, state and dead letters of a state directory, or
features from a server (`statefold serve`) over HTTP."""

import http.client
import json
import threading
import urllib.parse
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from . import _ext
from .errors import InvalidArgumentError, NotFoundError, StatefoldError
from .options import check_int
from .runtime import DEFAULT_STATE_DIR


def is_embedded_url(online_store: Optional[str]) -> bool:
    """Whether an online store URL names the state directory's own store (None, "" or
    "embedded"), as the engine decides it (IsEmbeddedUrl in src/online/online_store.h)."""
    return _ext.is_embedded_url(online_store or "")


def _namespace(entity: Union[str, type]) -> str:
    return entity if isinstance(entity, str) else entity.__statefold_namespace__


def _feature_name(feature: Any) -> str:
    """"user.unique_ip_count" from a Feature (User.unique_ip_count) or its name."""
    return feature if isinstance(feature, str) else feature.fqn


def _query_shape(input: Mapping[Any, Any], output: Sequence[Any]) -> Tuple[str, List[Any], List[str]]:
    """(primary key name, ids, output names) of a query; a single id stands for a list of one."""
    if len(input) != 1:
        raise StatefoldError(f"input must name exactly one primary key, got {len(input)}")
    ((key, ids),) = input.items()
    if isinstance(ids, (str, int)):
        ids = [ids]
    return _feature_name(key), list(ids), [_feature_name(o) for o in output]


class _HttpReader:
    """Requests to a statefold server, on one keep-alive connection per thread."""

    def __init__(self, url: str, token: Optional[str], timeout: float):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise StatefoldError(f"not a server URL: {url!r} (expected http://HOST:PORT)")
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            connection = cls(self._host, self._port, timeout=self._timeout)
            self._local.connection = connection
        return connection

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def request(self, method: str, path: str, body: Optional[Any] = None) -> Any:
        """The JSON answer of a request. Raises NotFoundError for 404, StatefoldError for other
        errors, with the server's message."""
        headers = dict(self._headers)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        # Every request is a read, so one that met a keep-alive connection the server had
        # just closed is sent again on a new one.
        for attempt in range(2):
            connection = self._connection()
            try:
                connection.request(method, self._prefix + path, body=payload, headers=headers)
                response = connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                self.close()
                if attempt == 1:
                    raise StatefoldError(f"{self.url}: {e}") from e
            except (OSError, http.client.HTTPException) as e:
                self.close()
                raise StatefoldError(f"cannot reach {self.url}: {e}") from e
        if response.status < 400:
            return json.loads(data)
        try:
            message = json.loads(data)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = data.decode("utf-8", "replace").strip()
        if response.status == 404:
            raise NotFoundError(message)
        raise StatefoldError(f"HTTP {response.status} from {self.url}: {message}")


class Client:
    """Reads features. `Client(state_dir)` reads a state directory and is safe to use while
    `statefold run` writes to it; `Client(url="http://HOST:PORT", token=...)` asks a server
    (`statefold serve`) instead, and offers the feature reads (`get`, `get_with_times`,
    `query`) only.

    The directory is opened on first use and kept open; each call first catches up with the
    engine's latest checkpoint (`follow=False` reads the snapshot taken at opening instead,
    which opens faster for one-shot commands). With `online_store` (a redis:// URL, as given
    to `statefold run --online-store`), the feature reads (`get`, `get_with_times`, `query`)
    read from there. Over HTTP, each thread keeps one keep-alive connection.
    """

    def __init__(self, state_dir: Optional[str] = DEFAULT_STATE_DIR, follow: bool = True,
                 online_store: Optional[str] = None, *, url: Optional[str] = None,
                 token: Optional[str] = None, timeout: float = 10.0):
        if token == "":
            raise InvalidArgumentError("token is empty: pass the server's token, or None for "
                                       "a server without one")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise InvalidArgumentError(f"timeout must be a number of seconds above 0, got {timeout!r}")
        if url is None and isinstance(state_dir, str) and state_dir.startswith(("http://", "https://")):
            url = state_dir
        self.url = url
        self.state_dir = None if url is not None else state_dir
        self.follow = follow
        self.online_store = online_store
        self._inspector: Any = None
        self._online: Any = None
        self._http = _HttpReader(url, token, timeout) if url is not None else None

    def _require_state_dir(self) -> None:
        if self._http is not None:
            raise StatefoldError(
                f"Client(url={self.url!r}) reads features only (get, get_with_times, query); "
                "state, dead letters and status need Client(state_dir)"
            )

    def _reader(self) -> Any:
        self._require_state_dir()
        if self._inspector is None:
            self._inspector = _ext.Inspector.open(self.state_dir, self.follow)
        elif self.follow:
            self._inspector.refresh()
        return self._inspector

    def close(self) -> None:
        self._inspector = None
        self._online = None
        if self._http is not None:
            self._http.close()

    def _features(self, ns: str, id: Any) -> List[Tuple[str, Any, int, int]]:
        """(name, value, time_ms, offset) of each feature of one entity; NotFoundError when
        it has none."""
        if self._http is not None:
            path = f"/v1/features/{urllib.parse.quote(ns, safe='')}/{urllib.parse.quote(str(id), safe='')}"
            answer = self._http.request("GET", path)
            return [(name, f["value"], f["time_ms"], f["offset"]) for name, f in answer["features"].items()]
        if is_embedded_url(self.online_store):
            stored = self._reader().features(ns, str(id))
        else:
            if self._online is None:
                self._online = _ext.OnlineReader(self.online_store)
            stored = self._online.features(ns, str(id))
        return [(name, json.loads(value), time_ms, offset) for name, value, time_ms, offset in stored]

    def get(self, entity: Union[str, type], id: Any) -> Dict[str, Any]:
        """Features of one entity keyed by fully qualified name, e.g. {"user.id": "u1", ...}.
        Raises NotFoundError for an unknown entity."""
        ns = _namespace(entity)
        return {f"{ns}.{name}": value for name, value, _, _ in self._features(ns, id)}

    def get_with_times(self, entity: Union[str, type], id: Any) -> Dict[str, Dict[str, Any]]:
        """Like get, with each value's feature time (epoch ms) and source offset."""
        ns = _namespace(entity)
        return {f"{ns}.{name}": {"value": value, "time_ms": time_ms, "offset": offset}
                for name, value, time_ms, offset in self._features(ns, id)}

    def query(self, input: Mapping[Any, Any], output: Sequence[Any],
              include_meta: bool = False) -> List[Dict[str, Any]]:
        """One row per id, like ChalkClient.query over a list of primary keys:
        `query(input={User.id: ["u1", "u2"]}, output=[User.unique_ip_count])` returns
        `[{"user.id": "u1", "user.unique_ip_count": 3}, {"user.id": "u2", ...: None}]`, a
        feature the entity lacks (or an unknown entity) being None. With include_meta, each row
        also has "meta": {feature: {"time_ms", "offset"}} for the features it has."""
        key, ids, outputs = _query_shape(input, output)
        if self._http is not None:
            body: Dict[str, Any] = {"inputs": {key: ids}, "outputs": outputs}
            if include_meta:
                body["include_meta"] = True
            return self._http.request("POST", "/v1/query", body)["rows"]
        ns = key.partition(".")[0]
        for name in outputs:
            if not name.startswith(ns + ".") or name == ns + ".":
                raise StatefoldError(f"output {name!r} is not a feature of the input's namespace {ns!r}")
        rows = []
        for id in ids:
            try:
                stored = {f"{ns}.{name}": (value, time_ms, offset)
                          for name, value, time_ms, offset in self._features(ns, id)}
            except NotFoundError:
                stored = {}
            row = {key: id}
            for name in outputs:
                if name != key:
                    row[name] = stored[name][0] if name in stored else None
            if include_meta:
                row["meta"] = {name: {"time_ms": stored[name][1], "offset": stored[name][2]}
                               for name in outputs if name in stored and name != key}
            rows.append(row)
        return rows

    def state(self, resolver: Any, key: str) -> Any:
        """The state of `key`: a JSON-like dict for a resolver name, or the state object itself
        when given the resolver. Raises NotFoundError when the key has no state."""
        if isinstance(resolver, str):
            return json.loads(self._reader().state_json(resolver, key))
        return resolver.decode_state(self._reader().state_payload(resolver.name, key))

    def state_keys(self, resolver: Any, limit: int = 1000) -> List[str]:
        """Up to `limit` (0 or more) keys with state, in key order."""
        limit = check_int("limit", limit, 0)
        return self._reader().state_keys(getattr(resolver, "name", resolver), limit)

    def stored_key_count(self, resolver: Any) -> int:
        """How many keys of the resolver have stored state; NotFoundError, naming the resolvers
        that have state, when it has none."""
        return self._reader().stored_key_count(getattr(resolver, "name", resolver))

    def reset_state(self, resolver: Any) -> None:
        """Deletes every state of the resolver; fails while an engine runs on the directory, and
        with NotFoundError when the resolver has no stored state. The source positions stay, so
        the state starts empty at the next message: the history before it is lost."""
        self._require_state_dir()
        _ext.state_reset(self.state_dir, getattr(resolver, "name", resolver))

    def dead_letters(self, limit: int = 1000) -> List[Dict[str, Any]]:
        """The first `limit` (0 or more) dead letters, in the order they were recorded
        (docs/semantics.md lists their members)."""
        limit = check_int("limit", limit, 0)
        return [json.loads(r) for r in self._reader().dead_letters(limit)]

    def dead_letters_and_more(self, limit: int = 1000) -> Tuple[List[Dict[str, Any]], int]:
        """The first `limit` dead letters and how many more there are after them."""
        limit = check_int("limit", limit, 0)
        records, more = self._reader().dead_letters_and_more(limit)
        return [json.loads(r) for r in records], more

    def run_status(self) -> Any:
        """The metrics stored with the last checkpoint as a typed, read-only _ext.RunStatus
        (src/state/run_status.h): updated_ms, started_ms, the run counters, sources (name,
        skipped_late, partitions: partition, next_offset, lag or None; refused: partition,
        reason, for partitions assigned but not read here) and resolvers (name, keys). Raises NotFoundError before the first checkpoint."""
        return self._reader().run_status()

    def status(self) -> Dict[str, Any]:
        """run_status() as the documented dict (what `statefold status --json` prints):
        {"updated_ms", "run": {"started_ms", "messages", "outputs", "resolver_errors",
        "dead_letters", "checkpoints", "last_checkpoint_commit_ms"}, "sources": {name:
        {"skipped_late", "partitions": {"<p>": {"next_offset", "lag"}}, "refused": {"<p>":
        reason}}}, "resolvers": {name:
        {"keys"}}}."""
        # The record's JSON form has one owner, RunStatus::ToJson.
        return json.loads(self.run_status().to_json())

    def state_schema(self, resolver: Any) -> Dict[str, Any]:
        return json.loads(self._reader().state_schema(getattr(resolver, "name", resolver)))
