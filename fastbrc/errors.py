"""The one error type every layer may raise: a configuration the trainer cannot run.

It lives below every layer (the pure JAX pieces in ``fastbrc.core`` raise it too, e.g. for a
device count the machine lacks); ``fastbrc.config`` re-exports it as ``ConfigError``.
"""


class ConfigError(ValueError):
    """A configuration the trainer cannot run; the message is one line for the user."""
