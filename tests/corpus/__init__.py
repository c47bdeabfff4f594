"""A corpus of real-world message shapes, built as bytes (see messages.py), and test helpers."""

from tests.corpus.harness import (
    Recorder,
    assert_valid,
    load_schema,
    parse,
)
from tests.corpus.messages import CORPUS, GIF, PDF, PNG

__all__ = [
    "CORPUS",
    "GIF",
    "PDF",
    "PNG",
    "Recorder",
    "assert_valid",
    "load_schema",
    "parse",
]
