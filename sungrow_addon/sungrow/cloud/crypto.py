"""The Open API's encrypted call mode (developer portal, appendices 4 to 7).

Each call gets a fresh 16-character AES key; the key travels RSA-encrypted (PKCS#1 v1.5) in
the `x-random-secret-key` header, the JSON body AES-128-ECB/PKCS7-encrypted as uppercase hex,
and the reply comes back encrypted with the same key.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import padding as symmetric_padding
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import load_der_public_key

_ALPHANUMERIC = string.ascii_letters + string.digits
AES_KEY_LENGTH = 16
NONCE_LENGTH = 32


class InvalidPublicKeyError(ValueError):
    """The text is not an RSA public key in the portal's format."""


class UndecryptableReplyError(ValueError):
    """A reply could not be decrypted with the call's key."""


def load_public_key(text: str) -> RSAPublicKey:
    """Read the portal's key: base64 (URL-safe or standard, padded or not) of X.509 DER."""
    compact = "".join(text.split())
    compact = compact.removeprefix("-----BEGINPUBLICKEY-----").removesuffix(
        "-----ENDPUBLICKEY-----"
    )
    standard = compact.replace("-", "+").replace("_", "/").rstrip("=")
    try:
        der = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
        key = load_der_public_key(der)
    except (binascii.Error, ValueError) as err:
        msg = "not base64 of an X.509 public key"
        raise InvalidPublicKeyError(msg) from err
    if not isinstance(key, RSAPublicKey):
        msg = "not an RSA public key"
        raise InvalidPublicKeyError(msg)
    return key


def random_text(length: int) -> str:
    """Return `length` random letters and digits from the system's CSPRNG."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


@dataclass(frozen=True)
class EncryptedRequest:
    """One call's headers and body, and the key its reply must be decrypted with."""

    secret_key_header: str
    body: str
    aes_key: bytes


def encrypt_request(
    public_key: RSAPublicKey, payload: dict[str, Any], *, timestamp_ms: int
) -> EncryptedRequest:
    """Encrypt a call's JSON body under a fresh key, with a fresh nonce and the timestamp."""
    aes_key = random_text(AES_KEY_LENGTH).encode()
    sealed_key = public_key.encrypt(aes_key, padding.PKCS1v15())
    body = {
        **payload,
        "api_key_param": {"nonce": random_text(NONCE_LENGTH), "timestamp": str(timestamp_ms)},
    }
    plaintext = json.dumps(body, separators=(",", ":")).encode()
    return EncryptedRequest(
        # URL-safe base64 *with* its `=` padding: every client seen working against the live
        # gateway sends it so (REAL_WORLD.md); only the portal's Java example strips it, and
        # the gateway's Java decoders accept both forms.
        secret_key_header=base64.urlsafe_b64encode(sealed_key).decode(),
        body=_aes_encrypt(aes_key, plaintext).hex().upper(),
        aes_key=aes_key,
    )


def decrypt_reply(text: str, aes_key: bytes) -> str:
    """Return the JSON text of a reply: hex AES ciphertext, or plain JSON for early errors."""
    stripped = text.strip()
    # Gateway errors raised before the key was recovered (E902, E906, ...) arrive in clear.
    if stripped.startswith("{"):
        return stripped
    try:
        return _aes_decrypt(aes_key, bytes.fromhex(stripped)).decode()
    except ValueError as err:
        msg = "the reply is neither JSON nor ciphertext under this call's key"
        raise UndecryptableReplyError(msg) from err


def _aes_encrypt(key: bytes, plaintext: bytes) -> bytes:
    padder = symmetric_padding.PKCS7(algorithms.AES.block_size).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 - the vendor's protocol
    return encryptor.update(padded) + encryptor.finalize()


def _aes_decrypt(key: bytes, ciphertext: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()  # noqa: S305 - the vendor's protocol
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = symmetric_padding.PKCS7(algorithms.AES.block_size).unpadder()
    return unpadder.update(padded) + unpadder.finalize()
