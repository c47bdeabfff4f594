"""inlet.authentication.dkim replaces dkimpy's integer/bytes conversions with the stdlib's C
ones: they must give what dkimpy's own give, for every input RSA verification can pass."""

import importlib.util
from pathlib import Path
from types import ModuleType

import dkim
import pytest
from hypothesis import given
from hypothesis import strategies as st

import inlet.authentication.dkim  # noqa: F401 - installs the replacements

pytestmark = pytest.mark.unit


def _dkimpy_crypto() -> ModuleType:
    """A second, untouched copy of dkimpy's crypto module, loaded from its file."""
    path = Path(dkim.__file__).parent / "crypto.py"
    spec = importlib.util.spec_from_file_location("dkim_crypto_original", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ORIGINAL = _dkimpy_crypto()


def test_the_replacements_are_installed() -> None:
    assert dkim.crypto.int2str is not ORIGINAL.int2str
    assert dkim.crypto.int2str.__module__ == "inlet.authentication.dkim"


@given(st.integers(min_value=0, max_value=2**4096))
def test_int2str_without_a_length(n: int) -> None:
    assert dkim.crypto.int2str(n) == ORIGINAL.int2str(n)


@given(st.integers(min_value=0, max_value=2**2048 - 1), st.integers(min_value=256, max_value=600))
def test_int2str_padded_to_a_length(n: int, length: int) -> None:
    assert dkim.crypto.int2str(n, length) == ORIGINAL.int2str(n, length)


@given(st.binary(max_size=600))
def test_str2int(data: bytes) -> None:
    assert dkim.crypto.str2int(data) == ORIGINAL.str2int(data)
    assert dkim.crypto.str2int(bytearray(data)) == ORIGINAL.str2int(bytearray(data))
