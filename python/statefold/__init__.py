"""statefold: a fast engine for stateful stream resolvers (Chalk's API) on a C++ core."""

from . import _ext
from .client import Client
from .errors import (AbortedError, CorruptionError, DefinitionError, InvalidArgumentError,
                     NotFoundError, StatefoldError, StatefoldIOError)
from .features import Feature, Features, Primary, features
from .sources import FileSource, KafkaSource
from .state import State
from .streams import StreamResolver, stream

__all__ = [
    "AbortedError", "Client", "CorruptionError", "DefinitionError", "Feature", "Features",
    "FileSource", "InvalidArgumentError", "KafkaSource", "NotFoundError", "Primary", "State",
    "StatefoldError", "StatefoldIOError", "StreamResolver", "features", "stream",
]
__version__ = "0.1.0"
