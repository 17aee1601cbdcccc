"""Native C++ resolvers (include/statefold/native.h) loaded from a shared library.

`statefold run libfeatures.so --input ...` loads the library's STATEFOLD_NATIVE_MODULE and
runs its resolvers on the engine, alone or beside Python resolvers on the same sources.
"""

from typing import Any, Dict, List

from . import _ext
from .sources import KafkaSource


class NativeStreamResolver:
    """A resolver of a native module, as the runtime sees a Python `@stream` resolver."""

    def __init__(self, module: Any, index: int, info: Dict[str, Any]):
        self._module = module  # keeps the resolver (owned by the module) alive
        self._index = index
        self.name: str = info["name"]
        self.stateful: bool = info["stateful"]
        self.state_schema: str = info["state_schema"]
        self.location = f"{module.path} (native)"
        # Bound like a Python source of the same name: --input / --source NAME=FILE, or the
        # Kafka settings of that name (STATEFOLD_KAFKA_<NAME>_*, statefold.toml).
        self.source = KafkaSource(name=info["source"])

    @property
    def source_name(self) -> str:
        return self.source.source_name

    def engine_spec(self) -> Dict[str, Any]:
        return {"name": self.name, "native_module": self._module, "native_index": self._index}

    def __repr__(self) -> str:
        return f"<native resolver {self.name} from {self._module.path}>"


def load_native_module(path: str) -> List[NativeStreamResolver]:
    """Loads a native module and returns its resolvers in registration order."""
    module = _ext.NativeModule.load(path)
    return [NativeStreamResolver(module, i, info) for i, info in enumerate(module.resolvers())]
