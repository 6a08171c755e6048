"""The encrypted call mode: an RSA-wrapped AES key per request, AES-128-ECB bodies in hex.

Appendices 4 to 7: the client encrypts a random 16-character key with the portal's RSA public
key (PKCS#1 v1.5, base64) into `x-random-secret-key`, and the JSON body, extended by
`api_key_param` {nonce, timestamp}, with AES-128-ECB/PKCS7 into uppercase hex. The gateway
answers in hex under the same key.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.padding import PKCS7

from .envelope import SimError

if TYPE_CHECKING:
    from datetime import datetime, timedelta

AES_KEY_LENGTH = 16
NONCE = re.compile(r"[A-Za-z0-9]{32}")


class GatewayKey:
    """The gateway's RSA key pair; the portal shows applications its public half."""

    def __init__(self, bits: int = 1024) -> None:
        """Generate a fresh key pair (the portal's keys are 1024-bit)."""
        self._private = rsa.generate_private_key(public_exponent=65537, key_size=bits)

    @property
    def public_text(self) -> str:
        """Return the public key as the portal shows it: URL-safe base64 of X.509 DER, no `=`."""
        der = self._private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.urlsafe_b64encode(der).decode("ascii").rstrip("=")

    def unwrap(self, header: str) -> bytes:
        """Return the AES key in `x-random-secret-key`: E906 if undecryptable, E907 if not 16."""
        try:
            blob = _lenient_b64decode(header)
            # OpenSSL answers a wrongly padded block with random bytes (implicit rejection)
            # rather than an error; those then fail as E907 or E905 instead of E906.
            key = self._private.decrypt(blob, padding.PKCS1v15())
        except ValueError as err:
            raise SimError("E906") from err
        if len(key) != AES_KEY_LENGTH:
            raise SimError("E907")
        return key


def _lenient_b64decode(text: str) -> bytes:
    """Accept both base64 alphabets, with or without `=` (clients send all four forms)."""
    standard = text.strip().rstrip("=").replace("-", "+").replace("_", "/")
    return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)


def aes_decrypt(key: bytes, body: bytes) -> str:
    """Return the text of a hex AES-128-ECB/PKCS7 body (any case); E905 if it is not one."""
    try:
        cipher = Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 - the vendor's protocol
        decryptor = cipher.decryptor()
        padded = decryptor.update(bytes.fromhex(body.decode("ascii"))) + decryptor.finalize()
        unpadder = PKCS7(algorithms.AES.block_size).unpadder()
        return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")
    except (ValueError, binascii.Error) as err:
        raise SimError("E905") from err


def aes_encrypt(key: bytes, text: str) -> str:
    """Return `text` as AES-128-ECB/PKCS7 ciphertext in uppercase hex."""
    padder = PKCS7(algorithms.AES.block_size).padder()
    padded = padder.update(text.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 - the vendor's protocol
    return (encryptor.update(padded) + encryptor.finalize()).hex().upper()


@dataclass
class ReplayGuard:
    """Checks `api_key_param` of decrypted bodies and remembers nonces per appkey."""

    _seen: dict[str, dict[str, datetime]] = field(default_factory=dict)

    def check(self, appkey: str, body: dict[str, Any], now: datetime, skew: timedelta) -> None:
        """Raise E908 (no api_key_param), E909 (bad nonce), E910 (reused), E913 (old).

        Nonces are forgotten after twice the skew, when a replay would be E913 anyway.
        """
        param = body.get("api_key_param")
        if not isinstance(param, dict):
            raise SimError("E908")
        nonce = param.get("nonce")
        if not isinstance(nonce, str) or not NONCE.fullmatch(nonce):
            raise SimError("E909")
        seen = self._seen.setdefault(appkey, {})
        for old in [old for old, at in seen.items() if at < now - 2 * skew]:
            del seen[old]
        if nonce in seen:
            raise SimError("E910")
        seen[nonce] = now
        stamp = _epoch_millis(param.get("timestamp"))
        if stamp is None or abs(stamp - now.timestamp() * 1000) > skew.total_seconds() * 1000:
            raise SimError("E913")


def _epoch_millis(value: object) -> float | None:
    """Accept epoch milliseconds as a number or a digit string (clients send both)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return float(value)
    return None
