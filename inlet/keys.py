"""The storage key layout, shared by S3 and the local data dir (see docs/architecture.md).

Keys derive only from the id (which encodes the date) and never from client-supplied text.
"""

from collections.abc import Callable

from inlet.ids import id_time

RAW_PREFIX = "raw/"
ENVELOPE_PREFIX = "envelope/"
PARSED_PREFIX = "parsed/"
ATTACHMENTS_PREFIX = "attachments/"
QUARANTINE_PREFIX = "quarantine/"
HOLDS_PREFIX = "holds/"


def _dated(prefix: str, message_id: str, suffix: str) -> str:
    day = id_time(message_id).strftime("%Y/%m/%d")
    return f"{prefix}{day}/{message_id}{suffix}"


def raw_key(message_id: str) -> str:
    return _dated(RAW_PREFIX, message_id, ".eml")


def envelope_key(message_id: str) -> str:
    return _dated(ENVELOPE_PREFIX, message_id, ".json")


def parsed_key(message_id: str) -> str:
    return _dated(PARSED_PREFIX, message_id, ".json")


def attachments_prefix(message_id: str) -> str:
    return f"{ATTACHMENTS_PREFIX}{message_id}/"


def attachment_key(message_id: str, index: int, safe_filename: str) -> str:
    """Where attachment `index` of a message is stored; `safe_filename` must be sanitised."""
    return f"{attachments_prefix(message_id)}{index}-{safe_filename}"


def quarantine_key(message_id: str) -> str:
    return f"{QUARANTINE_PREFIX}{message_id}.json"


def hold_key(message_id: str) -> str:
    return f"{HOLDS_PREFIX}{message_id}.json"


_KEY_UNDER: dict[str, Callable[[str], str]] = {
    RAW_PREFIX: raw_key,
    ENVELOPE_PREFIX: envelope_key,
    PARSED_PREFIX: parsed_key,
}


def message_id_of(key: str, prefix: str) -> str | None:
    """The id of the message whose raw/, envelope/ or parsed/ key (as `prefix` says) `key` is
    exactly; None for any other key (not one of ours, so nothing to do with it)."""
    message_id = id_from_key(key)
    try:
        return message_id if key == _KEY_UNDER[prefix](message_id) else None
    except ValueError:
        return None


def id_from_key(key: str) -> str:
    """The message id in a raw/, envelope/ or parsed/ key (the file name without suffix)."""
    name = key.rsplit("/", 1)[-1]
    return name.split(".", 1)[0]
