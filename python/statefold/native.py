"""Native C++ resolvers (include/statefold/native.h) loaded from a shared library.

`statefold run libfeatures.so --input ...` loads the library's STATEFOLD_NATIVE_MODULE and
runs its resolvers on the engine, alone or beside Python resolvers on the same sources.
"""

from typing import Any, List

from . import _ext
from .sources import KafkaSource


class NativeStreamResolver:
    """A resolver of a native module, as the runtime sees a Python `@stream` resolver."""

    def __init__(self, module: Any, resolver: Any):
        self._module = module
        # What the engine runs: the module's _ext.Resolver (which keeps the module alive).
        self.engine_resolver = resolver
        spec = resolver.spec
        self.name: str = spec.name
        self.stateful: bool = spec.stateful
        self.state_schema: str = spec.state_schema
        self.location = f"{module.path} (native)"
        # Bound like a Python source of the same name: --input / --source NAME=FILE, or the
        # Kafka settings of that name (STATEFOLD_KAFKA_<NAME>_*, statefold.toml).
        self.source = KafkaSource(name=spec.source)

    @property
    def source_name(self) -> str:
        return self.source.source_name

    def __repr__(self) -> str:
        return f"<native resolver {self.name} from {self._module.path}>"


def load_native_module(path: str) -> List[NativeStreamResolver]:
    """Loads a native module and returns its resolvers in registration order."""
    module = _ext.NativeModule.load(path)
    return [NativeStreamResolver(module, resolver) for resolver in module.resolvers()]
