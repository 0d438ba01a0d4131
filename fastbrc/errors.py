"""The one error type every layer may raise: a configuration the trainer cannot run, and how
an error becomes the one line a user sees.

It lives below every layer (the pure JAX pieces in ``fastbrc.core`` raise it too, e.g. for a
device count the machine lacks); ``fastbrc.config`` re-exports it as ``ConfigError``.
"""


class ConfigError(ValueError):
    """A configuration the trainer cannot run; the message is one line for the user."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message (its type's name when the message is empty)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def named_first_line(error: BaseException) -> str:
    """``Type: first line`` of a third-party error, whose type says what failed."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
