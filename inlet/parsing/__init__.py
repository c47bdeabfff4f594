"""MIME parsing: a raw message to the parsed document (see docs/parsed-document.schema.json).

Pure: no I/O beyond the chunks it is given and the `save_attachment` callback it calls.
"""

from inlet.parsing.document import PARSER_VERSION, quarantine_document, stored_document
from inlet.parsing.parse import ParseError, parse_message
from inlet.parsing.parts import SaveAttachment

__all__ = [
    "PARSER_VERSION",
    "ParseError",
    "SaveAttachment",
    "parse_message",
    "quarantine_document",
    "stored_document",
]
