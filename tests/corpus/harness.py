"""Helpers for the parser tests: a recording attachment sink, a parse of raw bytes with the
builders' envelope (tests/builders.py), and a small structural check of documents against
docs/parsed-document.schema.json (no jsonschema package: only the keywords that schema uses)."""

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inlet import keys
from inlet.document import Document
from inlet.parsing import parse_message
from tests.builders import ENVELOPE_ID, make_envelope

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "parsed-document.schema.json"
PARSED_AT = datetime(2026, 3, 4, 5, 6, 8, 123000, tzinfo=UTC)


class Recorder:
    """A save_attachment that keeps what it was given, in call order, and answers with the key
    the message store gives an attachment (attachments/<id>/<n>-<safe-filename>)."""

    def __init__(self, message_id: str = ENVELOPE_ID) -> None:
        self.message_id = message_id
        self.calls: list[tuple[str, bytes, str]] = []  # (key, data, content_type)

    def __call__(
        self, index: int, safe_filename: str, data: bytes, content_type: str, sha256: bytes
    ) -> str:
        assert hashlib.sha256(data).digest() == sha256
        assert index == len(self.calls)  # handed over one at a time, in walk order
        key = keys.attachment_key(self.message_id, index, safe_filename)
        self.calls.append((key, data, content_type))
        return key

    @property
    def by_key(self) -> dict[str, bytes]:
        return {key: data for key, data, _ in self.calls}


def chunked(data: bytes, size: int) -> Iterable[bytes]:
    return (data[at : at + size] for at in range(0, len(data), size))


def parse(raw: bytes, *, chunk_size: int = 65536) -> tuple[Document, Recorder]:
    """The document of `raw` (fed in `chunk_size` pieces) with make_envelope()'s envelope."""
    envelope = make_envelope()
    recorder = Recorder(envelope.id)
    document = parse_message(
        chunked(raw, chunk_size), envelope, save_attachment=recorder, parsed_at=PARSED_AT
    )
    return document, recorder


def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _type_ok(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    return isinstance(value, _TYPES[name])


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/"), ref
    node: Any = root
    for step in ref[2:].split("/"):
        node = node[step]
    resolved: dict[str, Any] = node
    return resolved


def schema_errors(
    value: Any, schema: dict[str, Any], root: dict[str, Any], at: str = "$"
) -> list[str]:
    """What is wrong with `value` under `schema`, as "path: problem" lines (empty when valid)."""
    known = {
        "$schema", "$id", "$defs", "title", "description", "$comment", "examples",
        "$ref", "anyOf", "type", "enum", "pattern", "minLength", "minimum", "minItems",
        "maxItems", "items", "prefixItems", "required", "properties", "additionalProperties",
    }  # fmt: skip
    unknown = set(schema) - known
    assert not unknown, f"{at}: the test's checker does not know {sorted(unknown)}"
    if "$ref" in schema:
        errors = schema_errors(value, _resolve(root, schema["$ref"]), root, at)
        if errors:
            return errors
    if "anyOf" in schema:
        branches = [schema_errors(value, branch, root, at) for branch in schema["anyOf"]]
        if all(branches):
            return [f"{at}: matches no anyOf branch: {branches}"]
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(value, name) for name in types):
            return [f"{at}: {value!r} is not of type {types}"]
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{at}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{at}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{at}: {value!r} is too short")
    is_number = isinstance(value, int) and not isinstance(value, bool)
    if is_number and value < schema.get("minimum", value):
        errors.append(f"{at}: {value} < {schema['minimum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", 1 << 62):
            errors.append(f"{at}: {len(value)} items")
        prefix = schema.get("prefixItems", [])
        for index, item in enumerate(value):
            item_schema = prefix[index] if index < len(prefix) else schema.get("items")
            if item_schema is not None:
                errors += schema_errors(item, item_schema, root, f"{at}[{index}]")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{at}: missing {name!r}")
        properties = schema.get("properties", {})
        for name, item in value.items():
            if name in properties:
                errors += schema_errors(item, properties[name], root, f"{at}.{name}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{at}: unexpected {name!r}")
    return errors


def assert_valid(document: Mapping[str, Any]) -> None:
    schema = load_schema()
    errors = schema_errors(document, schema, schema)
    assert not errors, "\n".join(errors)
