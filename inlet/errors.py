"""One small error hierarchy, translated at the boundaries.

The relay maps TransientError to a 4xx reply, PermanentError to a 5xx; the CLI maps
ConfigError to exit code 2 and any other InletError to 1.
"""


class InletError(Exception):
    """Base of every error Inlet raises on purpose."""


class TransientError(InletError):
    """Retrying later may succeed (storage unavailable, timeout, throttling)."""


class PermanentError(InletError):
    """Retrying will not help (malformed input, object missing)."""


class NotFoundError(PermanentError):
    """The requested message or object does not exist."""


class ConfigError(PermanentError):
    """Bad configuration or usage; the message is one line a person can act on."""
