"""The document's TypedDicts (inlet.document, inlet.envelope) say what the schema says.

docs/parsed-document.schema.json is the contract readers rely on; the TypedDicts are what mypy
holds the code to. Each TypedDict is compared with its schema object: the same keys in the same
order, the same required ones, and for every field the same JSON types, where a field's JSON
types are worked out alike from its annotation and from its schema (string, integer, null,
enums, arrays of ..., objects with these fields; nested TypedDicts structurally). A field added
to, removed from or retyped in one and not the other fails here.
"""

import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

import pytest

from inlet.authentication.results import (
    ArcVerdict,
    Authentication,
    DkimVerdict,
    DmarcVerdict,
    SpfVerdict,
)
from inlet.document import Address, Attachment, Document, Status
from inlet.envelope import EnvelopeJson, TlsJson
from inlet.parsing.document import FIELDS
from tests.builders import make_document, make_envelope
from tests.corpus import assert_valid, load_schema

pytestmark = pytest.mark.unit

SCHEMA = load_schema()

# One JSON type a value may have: ("string", enum values or None), ("integer",), ("null",),
# ("array", the item's Types), ("object", (field, required, Types) ... or None when free-form).
Types = frozenset[tuple[Any, ...]]


def _resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        target: Any = SCHEMA
        for step in ref[2:].split("/"):
            target = target[step]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def schema_types(node: Mapping[str, Any]) -> Types:
    """The JSON types a schema node allows."""
    node = _resolve(node)
    if "anyOf" in node:
        return frozenset().union(*(schema_types(branch) for branch in node["anyOf"]))
    names = node["type"] if isinstance(node["type"], list) else [node["type"]]
    enum = node.get("enum")
    found: set[tuple[Any, ...]] = set()
    for name in names:
        if name == "string":
            strings = None if enum is None else frozenset(v for v in enum if isinstance(v, str))
            found.add(("string", strings))
        elif name in ("integer", "null"):
            found.add((name,))
        elif name == "array":
            if "items" in node:
                items = schema_types(node["items"])
            else:  # a tuple ([name, value]): an array of what its places hold
                items = frozenset().union(*(schema_types(p) for p in node["prefixItems"]))
            found.add(("array", items))
        elif name == "object":
            if "properties" not in node:
                found.add(("object", None))
            else:
                required = set(node.get("required", ()))
                fields = tuple(
                    sorted(
                        (key, key in required, schema_types(value))
                        for key, value in node["properties"].items()
                    )
                )
                found.add(("object", fields))
        else:
            raise AssertionError(f"this test does not know the JSON type {name!r}")
    return frozenset(found)


def python_types(annotation: Any) -> Types:
    """The JSON types a value of a (resolved) annotation has."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return frozenset().union(*(python_types(arg) for arg in get_args(annotation)))
    if annotation is type(None):
        return frozenset({("null",)})
    if annotation is str:
        return frozenset({("string", None)})
    if annotation is int:
        return frozenset({("integer",)})
    if origin is Literal:
        values = get_args(annotation)
        assert all(isinstance(v, str) for v in values), annotation
        return frozenset({("string", frozenset(values))})
    if origin is list:
        (item,) = get_args(annotation)
        return frozenset({("array", python_types(item))})
    if origin is dict:
        assert get_args(annotation) == (str, Any), annotation
        return frozenset({("object", None)})
    if is_typeddict(annotation):
        hints = get_type_hints(annotation)
        fields = tuple(
            sorted(
                (key, key in annotation.__required_keys__, python_types(hint))
                for key, hint in hints.items()
            )
        )
        return frozenset({("object", fields)})
    raise AssertionError(f"this test does not know how {annotation!r} is written in JSON")


def _object(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """The one object branch of a node (tls is an object or null)."""
    node = _resolve(node)
    if "anyOf" in node:
        (node,) = (_resolve(b) for b in node["anyOf"] if _resolve(b).get("type") == "object")
    return node


AUTHENTICATION = _object(SCHEMA["$defs"]["authentication"])
TYPED_DICTS: dict[str, tuple[Any, Mapping[str, Any]]] = {
    "Document": (Document, SCHEMA),
    "Address": (Address, _object(SCHEMA["$defs"]["address"])),
    "Attachment": (Attachment, _object(SCHEMA["$defs"]["attachment"])),
    "EnvelopeJson": (EnvelopeJson, _object(SCHEMA["$defs"]["envelope"])),
    "TlsJson": (TlsJson, _object(SCHEMA["$defs"]["envelope"]["properties"]["tls"])),
    "Authentication": (Authentication, AUTHENTICATION),
    "SpfVerdict": (SpfVerdict, AUTHENTICATION["properties"]["spf"]),
    "DkimVerdict": (DkimVerdict, AUTHENTICATION["properties"]["dkim"]["items"]),
    "DmarcVerdict": (DmarcVerdict, AUTHENTICATION["properties"]["dmarc"]),
    "ArcVerdict": (ArcVerdict, AUTHENTICATION["properties"]["arc"]),
}


@pytest.mark.parametrize("name", sorted(TYPED_DICTS))
def test_the_keys_are_the_schemas_properties_in_order(name: str) -> None:
    typed, node = TYPED_DICTS[name]
    assert list(get_type_hints(typed)) == list(node["properties"])
    assert list(typed.__annotations__) == list(node["properties"])
    assert node["additionalProperties"] is False  # so no key may be left out of the TypedDict


@pytest.mark.parametrize("name", sorted(TYPED_DICTS))
def test_the_required_keys_are_the_schemas(name: str) -> None:
    typed, node = TYPED_DICTS[name]
    assert typed.__required_keys__ == set(node["required"])
    assert typed.__optional_keys__ == set(node["properties"]) - set(node["required"])


@pytest.mark.parametrize("name", sorted(TYPED_DICTS))
def test_each_field_has_the_schemas_json_types(name: str) -> None:
    typed, node = TYPED_DICTS[name]
    hints = get_type_hints(typed)
    for key, annotation in hints.items():
        assert python_types(annotation) == schema_types(node["properties"][key]), key


def test_the_whole_document_agrees_structurally() -> None:
    assert python_types(Document) == schema_types(SCHEMA)


def test_the_status_literal_is_the_schemas_enum() -> None:
    assert list(get_args(Status)) == SCHEMA["properties"]["status"]["enum"]
    assert get_type_hints(Document)["status"] == Status


def test_parsing_lists_the_fields_of_the_typed_document() -> None:
    assert list(FIELDS) == list(get_type_hints(Document)) == SCHEMA["required"]


def test_the_comparison_notices_a_difference() -> None:
    # The checks above are only as good as the two translations: a changed field must show.
    assert python_types(str | None) == schema_types({"type": ["string", "null"]})
    assert python_types(str) != schema_types({"type": ["string", "null"]})
    assert python_types(list[str]) != schema_types({"type": "array", "items": {"type": "integer"}})
    assert python_types(Literal["a"]) != schema_types({"type": "string", "enum": ["a", "b"]})
    address = schema_types(SCHEMA["$defs"]["address"])
    assert python_types(Address) == address

    class Shrunk(typing.TypedDict):
        name: str

    class Optional(typing.TypedDict, total=False):
        name: str
        address: str

    class Widened(typing.TypedDict):
        name: str | None
        address: str

    for changed in (Shrunk, Optional, Widened):
        assert python_types(changed) != address, changed


@pytest.mark.parametrize("status", ["stored", "parsed", "quarantined"])
def test_the_test_builders_make_valid_documents(status: str) -> None:
    document = make_document(status=status, cc=["cc@example.com"])
    assert list(document) == list(FIELDS)
    assert_valid(document)
    assert_valid(make_document(status=status, envelope=make_envelope(tls=None).to_dict()))
