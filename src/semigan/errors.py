"""Errors that mean "bad input", reported to the user as one clear line (not a traceback)."""


class UnknownNameError(KeyError):
    """A dataset, architecture or method name that is not registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class UsageError(ValueError):
    """A command-line value that cannot work (e.g. a class index out of range)."""
