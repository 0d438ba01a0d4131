"""`DeployError`: bad input to `fastbrc export` / `fastbrc sim2sim`, told in one line."""


class DeployError(ValueError):
    """A policy cannot be exported or rolled out for a reason the user can fix (one line)."""
