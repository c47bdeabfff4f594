"""Inlet's domain core: ids and key layout, the envelope, settings and the storage ports."""

from inlet.envelope import Envelope, TlsInfo
from inlet.errors import ConfigError, InletError, PermanentError, TransientError
from inlet.ids import mint_id

__all__ = [
    "ConfigError",
    "Envelope",
    "InletError",
    "PermanentError",
    "TlsInfo",
    "TransientError",
    "mint_id",
]
