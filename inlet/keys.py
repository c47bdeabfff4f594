"""The storage key layout, shared by S3 and the local data dir (see docs/architecture.md).

Keys derive only from the id (which encodes the date) and never from client-supplied text.
"""

from inlet.ids import id_time

RAW_PREFIX = "raw/"
ENVELOPE_PREFIX = "envelope/"
PARSED_PREFIX = "parsed/"
ATTACHMENTS_PREFIX = "attachments/"
QUARANTINE_PREFIX = "quarantine/"


def _dated(prefix: str, message_id: str, suffix: str) -> str:
    day = id_time(message_id).strftime("%Y/%m/%d")
    return f"{prefix}{day}/{message_id}{suffix}"


def raw_key(message_id: str) -> str:
    return _dated(RAW_PREFIX, message_id, ".eml")


def envelope_key(message_id: str) -> str:
    return _dated(ENVELOPE_PREFIX, message_id, ".json")


def parsed_key(message_id: str) -> str:
    return _dated(PARSED_PREFIX, message_id, ".json")


def attachment_key(message_id: str, index: int, safe_filename: str) -> str:
    """Where attachment `index` of a message is stored; `safe_filename` must be sanitised."""
    return f"{ATTACHMENTS_PREFIX}{message_id}/{index}-{safe_filename}"


def quarantine_key(message_id: str) -> str:
    return f"{QUARANTINE_PREFIX}{message_id}.json"


def id_from_key(key: str) -> str:
    """The message id in a raw/, envelope/ or parsed/ key (the file name without suffix)."""
    name = key.rsplit("/", 1)[-1]
    return name.split(".", 1)[0]
