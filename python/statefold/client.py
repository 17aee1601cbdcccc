"""`statefold.Client`: read features, state and dead letters of a state directory."""

import json
from typing import Any, Dict, List, Optional, Union

from . import _ext
from .runtime import DEFAULT_STATE_DIR


def _namespace(entity: Union[str, type]) -> str:
    return entity if isinstance(entity, str) else entity.__statefold_namespace__


class Client:
    """Reads a state directory; safe to use while `statefold run` writes to it."""

    def __init__(self, state_dir: str = DEFAULT_STATE_DIR):
        self.state_dir = state_dir

    def get(self, entity: Union[str, type], id: Any) -> Dict[str, Any]:
        """Features of one entity keyed by fully qualified name, e.g. {"user.id": "u1", ...}.
        Raises NotFoundError for an unknown entity."""
        ns = _namespace(entity)
        return {f"{ns}.{name}": json.loads(value) for name, value, _, _ in
                _ext.read_features(self.state_dir, ns, str(id))}

    def get_with_times(self, entity: Union[str, type], id: Any) -> Dict[str, Dict[str, Any]]:
        """Like get, with each value's feature time (epoch ms) and source offset."""
        ns = _namespace(entity)
        return {f"{ns}.{name}": {"value": json.loads(value), "time_ms": time_ms, "offset": offset}
                for name, value, time_ms, offset in _ext.read_features(self.state_dir, ns, str(id))}

    def state(self, resolver: Any, key: str) -> Any:
        """The state of `key`: a JSON-like dict for a resolver name, or the state object itself
        when given the resolver. Raises NotFoundError when the key has no state."""
        if isinstance(resolver, str):
            return json.loads(_ext.state_json(self.state_dir, resolver, key))
        return resolver.decode_state(_ext.state_payload(self.state_dir, resolver.name, key))

    def state_keys(self, resolver: Any, limit: int = 1000) -> List[str]:
        return _ext.state_keys(self.state_dir, getattr(resolver, "name", resolver), limit)

    def reset_state(self, resolver: Any) -> None:
        """Deletes every state of the resolver; fails while an engine runs on the directory."""
        _ext.state_reset(self.state_dir, getattr(resolver, "name", resolver))

    def dead_letters(self, limit: int = 1000) -> List[Dict[str, Any]]:
        return [json.loads(r) for r in _ext.dead_letters(self.state_dir, limit)]

    def state_schema(self, resolver: Any) -> Dict[str, Any]:
        return json.loads(_ext.state_schema(self.state_dir, getattr(resolver, "name", resolver)))
