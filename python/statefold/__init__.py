"""statefold: a fast engine for stateful stream resolvers (Chalk's API) on a C++ core."""

from . import _ext
from .client import Client
from .errors import DefinitionError, NotFoundError, StatefoldError
from .features import Feature, Features, Primary, features
from .sources import FileSource, KafkaSource
from .state import State
from .streams import StreamResolver, stream

_ext.set_error_classes(StatefoldError, NotFoundError)

__all__ = [
    "Client", "DefinitionError", "Feature", "Features", "FileSource", "KafkaSource",
    "NotFoundError", "Primary", "State", "StatefoldError", "StreamResolver", "features", "stream",
]
__version__ = "0.1.0"
