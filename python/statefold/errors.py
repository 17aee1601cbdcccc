"""Errors raised by statefold.

Every engine and store error is a StatefoldError; the binding raises the subclass of its
status code (the table in python/_ext/status_error.cc), so a caller can catch one kind of
failure, as with pyarrow's ArrowInvalid or ArrowIOError.
"""


class StatefoldError(Exception):
    """An engine or store error, with a message that says what to do about it."""


class InvalidArgumentError(StatefoldError):
    """Something that can never work: a bad option, URL, property or value."""


class NotFoundError(StatefoldError):
    """A resolver, key, entity or state directory that does not exist."""


class CorruptionError(StatefoldError):
    """Stored or received bytes that do not decode."""


class StatefoldIOError(StatefoldError):
    """The file system, a store or the network failed (a state directory in use, a port taken)."""


class AbortedError(StatefoldError):
    """An operation that was stopped (a stop request while the online store was unreachable)."""


class DefinitionError(StatefoldError):
    """A resolver, state or feature definition that statefold cannot run.

    Raised when the definition is made (at import of the definitions file), and names the
    resolver, the parameter or field, and the file and line of the definition.
    """
