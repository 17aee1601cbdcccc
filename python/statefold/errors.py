"""Errors raised by statefold."""


class StatefoldError(Exception):
    """An engine or store error, with a message that says what to do about it."""


class NotFoundError(StatefoldError):
    """A resolver, key, entity or state directory that does not exist."""


class DefinitionError(StatefoldError):
    """A resolver, state or feature definition that statefold cannot run.

    Raised when the definition is made (at import of the definitions file), and names the
    resolver, the parameter or field, and the file and line of the definition.
    """
