"""DKIM keys made afresh for each run, and messages signed and ARC-sealed with them (dkimpy):
for the verdict tests and the benches."""

import base64
from dataclasses import dataclass

import dkim
import nacl.signing
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class Key:
    private: bytes  # as dkimpy's sign() takes it
    record: str  # the TXT record publishing the public half
    algorithm: bytes  # the a= it signs with


def make_rsa_key(bits: int = 2048) -> Key:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Key(pem, f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}", b"rsa-sha256")


def make_ed25519_key() -> Key:
    signing = nacl.signing.SigningKey.generate()
    public = base64.b64encode(bytes(signing.verify_key)).decode()
    return Key(
        base64.b64encode(bytes(signing)), f"v=DKIM1; k=ed25519; p={public}", b"ed25519-sha256"
    )


SIGNED_HEADERS = (b"from", b"to", b"subject", b"date", b"message-id")


def sign(message: bytes, key: Key, *, domain: str, selector: str) -> bytes:
    """The message with a DKIM-Signature of `domain` on top."""
    signature = dkim.sign(
        message,
        selector.encode(),
        domain.encode(),
        key.private,
        include_headers=list(SIGNED_HEADERS),
        signature_algorithm=key.algorithm,
    )
    return bytes(signature) + message


def arc_seal(message: bytes, key: Key, *, domain: str, selector: str, results: str) -> bytes:
    """The message as a forwarder passes it on: its Authentication-Results (`results`, naming
    `domain` as authserv-id) sealed into a new ARC set on top."""
    with_results = f"Authentication-Results: {domain}; {results}\r\n".encode() + message
    headers = dkim.arc_sign(
        with_results,
        selector.encode(),
        domain.encode(),
        key.private,
        domain.encode(),
        include_headers=list(SIGNED_HEADERS),
    )
    return b"".join(headers) + with_results
