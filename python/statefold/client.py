"""`statefold.Client`: read features, state and dead letters of a state directory."""

import json
from typing import Any, Dict, List, Optional, Union

from . import _ext
from .runtime import DEFAULT_STATE_DIR


def _namespace(entity: Union[str, type]) -> str:
    return entity if isinstance(entity, str) else entity.__statefold_namespace__


class Client:
    """Reads a state directory; safe to use while `statefold run` writes to it.

    The directory is opened on first use and kept open; each call first catches up with the
    engine's latest checkpoint (`follow=False` reads the snapshot taken at opening instead,
    which opens faster for one-shot commands). With `online_store` (a redis:// URL, as given
    to `statefold run --online-store`), `get` and `get_with_times` read features from there.
    """

    def __init__(self, state_dir: str = DEFAULT_STATE_DIR, follow: bool = True,
                 online_store: Optional[str] = None):
        self.state_dir = state_dir
        self.follow = follow
        self.online_store = online_store
        self._inspector: Any = None
        self._online: Any = None

    def _reader(self) -> Any:
        if self._inspector is None:
            self._inspector = _ext.Inspector.open(self.state_dir, self.follow)
        elif self.follow:
            self._inspector.refresh()
        return self._inspector

    def _features(self, ns: str, id: Any) -> List[Any]:
        if self.online_store in (None, "", "embedded"):
            return self._reader().features(ns, str(id))
        if self._online is None:
            self._online = _ext.OnlineReader(self.online_store)
        return self._online.features(ns, str(id))

    def close(self) -> None:
        self._inspector = None
        self._online = None

    def get(self, entity: Union[str, type], id: Any) -> Dict[str, Any]:
        """Features of one entity keyed by fully qualified name, e.g. {"user.id": "u1", ...}.
        Raises NotFoundError for an unknown entity."""
        ns = _namespace(entity)
        return {f"{ns}.{name}": json.loads(value) for name, value, _, _ in self._features(ns, id)}

    def get_with_times(self, entity: Union[str, type], id: Any) -> Dict[str, Dict[str, Any]]:
        """Like get, with each value's feature time (epoch ms) and source offset."""
        ns = _namespace(entity)
        return {f"{ns}.{name}": {"value": json.loads(value), "time_ms": time_ms, "offset": offset}
                for name, value, time_ms, offset in self._features(ns, id)}

    def state(self, resolver: Any, key: str) -> Any:
        """The state of `key`: a JSON-like dict for a resolver name, or the state object itself
        when given the resolver. Raises NotFoundError when the key has no state."""
        if isinstance(resolver, str):
            return json.loads(self._reader().state_json(resolver, key))
        return resolver.decode_state(self._reader().state_payload(resolver.name, key))

    def state_keys(self, resolver: Any, limit: int = 1000) -> List[str]:
        return self._reader().state_keys(getattr(resolver, "name", resolver), limit)

    def reset_state(self, resolver: Any) -> None:
        """Deletes every state of the resolver; fails while an engine runs on the directory."""
        _ext.state_reset(self.state_dir, getattr(resolver, "name", resolver))

    def dead_letters(self, limit: int = 1000) -> List[Dict[str, Any]]:
        return [json.loads(r) for r in self._reader().dead_letters(limit)]

    def status(self) -> Dict[str, Any]:
        """The metrics stored with the last checkpoint: run counters, source positions and
        lag per partition, keys per resolver, checkpoint commit time."""
        return json.loads(self._reader().status())

    def state_schema(self, resolver: Any) -> Dict[str, Any]:
        return json.loads(self._reader().state_schema(getattr(resolver, "name", resolver)))
