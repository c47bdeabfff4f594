"""DKIM (RFC 6376: RSA, and Ed25519 per RFC 8463) and ARC (RFC 8617) with dkimpy, the keys
fetched through the DNS port.

dkimpy's verify() answers True or False and logs why; the reason decides the result word here:
False with no key loaded is a missing or unusable key (`permerror`), False with one a signature
that does not verify (`fail`), and a DNS failure surfaces as our DnsError, which dkimpy does not
catch (`temperror`).
"""

import logging
from collections.abc import Callable

import dkim as dkimpy

from inlet.authentication.results import ArcVerdict, DkimVerdict, Result
from inlet.dns import DnsError, Resolver

# dkimpy logs each failing signature at ERROR: ordinary for spam, so kept out of our logs.
# A logger of our own, outside the logging tree and disabled: its records are not even built.
_QUIET = logging.Logger("inlet.dkimpy")
_QUIET.disabled = True

# RFC 8301 §3.2: verifiers must not consider RSA keys under 1024 bits valid.
MIN_RSA_BITS = 1024
_SIGNATURE = b"dkim-signature"
_CV: dict[bytes | None, Result] = {
    dkimpy.CV_Pass: "pass",
    dkimpy.CV_Fail: "fail",
    dkimpy.CV_None: "none",
    None: "fail",  # an earlier hop sealed cv=fail: the chain is broken
}

TxtLookup = Callable[..., bytes | None]


def _int_to_bytes(n: int, length: int = -1) -> bytearray:
    """dkim.crypto.int2str, in C: big-endian, at least one byte, exactly `length` if given."""
    if length < 0:
        length = max(1, (n.bit_length() + 7) // 8)
    return bytearray(n.to_bytes(length, "big"))  # OverflowError where int2str asserts


def _bytes_to_int(data: bytes | bytearray) -> int:
    """dkim.crypto.str2int, in C."""
    return int.from_bytes(data, "big")


# dkimpy converts between integers and bytes one byte at a time in Python, twice per RSA
# verification: ~0.5 ms of a 10 KiB message's ~4 ms of verdicts (bench/verdicts_bench.py's
# profile). The same conversions in C, held equal to dkimpy's by tests/unit/test_dkim_crypto.py.
dkimpy.crypto.int2str = _int_to_bytes
dkimpy.crypto.str2int = _bytes_to_int


def key_lookup(resolver: Resolver) -> TxtLookup:
    """dkimpy's `dnsfunc`: the key record at a name as one string (its character-strings
    joined, RFC 6376 §3.6.2.2), None when there is none."""

    def txt(name: bytes, timeout: float = 5) -> bytes | None:
        text = name.decode("ascii", "replace")
        answer = resolver.lookup(text, "TXT", timeout=float(timeout))
        records = answer.texts()
        keys = [r for r in records if r.lstrip().startswith(b"v=DKIM1") or b"p=" in r]
        return keys[0] if keys else (records[0] if records else None)

    return txt


def check_dkim(message: bytes, resolver: Resolver) -> list[DkimVerdict]:
    """One verdict per DKIM-Signature, top to bottom; [] when unsigned."""
    try:
        signer = dkimpy.DKIM(message, logger=_QUIET, minkey=MIN_RSA_BITS)
    except dkimpy.DKIMException:
        return [_verdict("permerror", None, None)]
    count = sum(1 for name, _ in signer.headers if name.lower() == _SIGNATURE)
    txt = key_lookup(resolver)
    return [_verify(signer, index, txt) for index in range(count)]


def _verify(signer: dkimpy.DKIM, index: int, txt: TxtLookup) -> DkimVerdict:
    try:
        prepared = signer.verify_headerprep(index)
    except dkimpy.DKIMException:
        return _verdict("permerror", *_loose_identity(signer, index))
    tags, include_headers, signatures = prepared
    domain, selector = _text(tags.get(b"d")), _text(tags.get(b"s"))
    signer.pk = None  # verify_sig sets it once the key has been fetched and loaded
    try:
        # What verify(idx) does after its own verify_headerprep, which ran just above.
        valid = signer.verify_sig(tags, include_headers, signatures[index], txt)
    except DnsError:
        return _verdict("temperror", domain, selector)
    except dkimpy.ValidationError:
        return _verdict("fail", domain, selector)  # the body hash does not match
    except dkimpy.DKIMException:
        return _verdict("permerror", domain, selector)  # e.g. a key under MIN_RSA_BITS
    except ValueError:
        # PyNaCl's, for a signature that cannot be an Ed25519 one (an RSA signature checked
        # against an Ed25519 key): it does not verify.
        return _verdict("fail", domain, selector)
    if not valid and signer.pk is None:
        # verify_sig answers False, having logged why, when there is no usable key: none at
        # the name, a revoked (p=) or malformed one.
        return _verdict("permerror", domain, selector)
    return _verdict("pass" if valid else "fail", domain, selector)


def check_arc(message: bytes, resolver: Resolver) -> ArcVerdict:
    try:
        arc = dkimpy.ARC(message, logger=_QUIET, minkey=MIN_RSA_BITS)
        length, _sets = arc.sorted_arc_headers()
    except dkimpy.DKIMException:
        return {"result": "permerror", "chain_length": 0}
    if length == 0:
        return {"result": "none", "chain_length": 0}
    try:
        cv, _results, _reason = arc.verify(dnsfunc=key_lookup(resolver))
    except DnsError:
        return {"result": "temperror", "chain_length": length}
    except (dkimpy.DKIMException, ValueError):  # ValueError: as in _verify, PyNaCl's
        return {"result": "fail", "chain_length": length}
    return {"result": _CV.get(cv, "fail"), "chain_length": length}


def _verdict(result: Result, domain: str | None, selector: str | None) -> DkimVerdict:
    return {"result": result, "domain": domain, "selector": selector}


def _loose_identity(signer: dkimpy.DKIM, index: int) -> tuple[str | None, str | None]:
    """d= and s= of a signature too broken to verify, when they can be read at all."""
    headers = [value for name, value in signer.headers if name.lower() == _SIGNATURE]
    try:
        tags = dkimpy.util.parse_tag_value(headers[index])
    except Exception:
        return None, None
    return _text(tags.get(b"d")), _text(tags.get(b"s"))


def _text(value: bytes | None) -> str | None:
    if not value:
        return None
    return value.decode("utf-8", "replace").strip().lower() or None
