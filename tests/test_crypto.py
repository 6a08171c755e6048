"""Encrypted calls: what goes on the wire, checked with the private half of a fresh key pair."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aioresponses import CallbackResult, aioresponses
from const import APPKEY, SECRET_KEY
from cryptography.hazmat.primitives import padding as symmetric_padding
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from yarl import URL

from sungrow.cloud.crypto import (
    InvalidPublicKeyError,
    UndecryptableReplyError,
    decrypt_reply,
    encrypt_request,
    load_public_key,
)
from sungrow.cloud.transport import Gateway
from sungrow.exceptions import ISolarCloudAuthenticationError, ISolarCloudResponseError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

GATEWAY = "https://gateway.isolarcloud.eu"
# 1024 bits: the size of the keys the developer portal hands out.
PRIVATE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
DER = PRIVATE_KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
)
# The portal shows the key as URL-safe base64 without padding.
PORTAL_KEY = base64.urlsafe_b64encode(DER).decode().rstrip("=")


def aes(key: bytes, data: bytes, *, decrypt: bool) -> bytes:
    """AES-128-ECB with PKCS7, written from the portal's appendices 5 and 6."""
    cipher = Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 - the vendor's protocol
    if decrypt:
        decryptor = cipher.decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
        unpadder = symmetric_padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    padder = symmetric_padding.PKCS7(128).padder()
    encryptor = cipher.encryptor()
    return encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()


def open_request(header: str, body: str) -> tuple[bytes, dict[str, Any]]:
    """Do what the gateway does: recover the call's key, then the JSON body."""
    sealed = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
    key = PRIVATE_KEY.decrypt(sealed, padding.PKCS1v15())
    return key, json.loads(aes(key, bytes.fromhex(body), decrypt=True))


@pytest.mark.parametrize(
    "text",
    [
        PORTAL_KEY,
        base64.b64encode(DER).decode(),
        base64.urlsafe_b64encode(DER).decode(),
        "-----BEGIN PUBLIC KEY-----\n"
        + base64.b64encode(DER).decode()
        + "\n-----END PUBLIC KEY-----",
        " ".join(PORTAL_KEY[i : i + 64] for i in range(0, len(PORTAL_KEY), 64)),
    ],
)
def test_the_portal_key_is_read_in_any_base64_form(text: str) -> None:
    """URL-safe or standard alphabet, padded or not, wrapped or not, even as PEM."""
    key = load_public_key(text)

    assert key.public_numbers() == PRIVATE_KEY.public_key().public_numbers()


@pytest.mark.parametrize("text", ["not a key", "QUJD", base64.b64encode(b"x" * 64).decode()])
def test_a_wrong_key_is_refused(text: str) -> None:
    """Text that is not an X.509 RSA public key is refused."""
    with pytest.raises(InvalidPublicKeyError):
        load_public_key(text)


def test_a_request_is_sealed_as_the_portal_documents() -> None:
    """A fresh 16-character key, RSA-sealed; the body AES-encrypted as uppercase hex."""
    request = encrypt_request(
        load_public_key(PORTAL_KEY), {"appkey": APPKEY, "curPage": 1}, timestamp_ms=1616725497384
    )

    # URL-safe base64 with its `=` padding, as the clients that work live send it.
    assert re.fullmatch(r"[A-Za-z0-9_-]+=*", request.secret_key_header)
    assert len(request.secret_key_header) % 4 == 0
    assert request.secret_key_header.endswith("=")
    assert re.fullmatch(r"[0-9A-F]+", request.body)
    key, body = open_request(request.secret_key_header, request.body)
    assert key == request.aes_key
    assert re.fullmatch(rb"[A-Za-z0-9]{16}", key)
    assert body["appkey"] == APPKEY
    assert body["curPage"] == 1
    assert body["api_key_param"]["timestamp"] == "1616725497384"
    assert re.fullmatch(r"[A-Za-z0-9]{32}", body["api_key_param"]["nonce"])


def test_every_request_has_its_own_key_and_nonce() -> None:
    """Keys and nonces are never reused."""
    public_key = load_public_key(PORTAL_KEY)
    requests = [encrypt_request(public_key, {}, timestamp_ms=0) for _ in range(20)]
    nonces = {
        open_request(r.secret_key_header, r.body)[1]["api_key_param"]["nonce"] for r in requests
    }

    assert len({request.aes_key for request in requests}) == 20
    assert len(nonces) == 20


def test_replies_are_decrypted_and_plain_errors_pass_through() -> None:
    """An encrypted reply is opened with the call's key; early gateway errors come in clear."""
    key = b"A123456zA123456z"
    reply = aes(key, b'{"result_code":"1"}', decrypt=False).hex().upper()

    assert decrypt_reply(reply, key) == '{"result_code":"1"}'
    assert decrypt_reply(' {"result_code":"E906"}', key) == '{"result_code":"E906"}'
    with pytest.raises(UndecryptableReplyError):
        decrypt_reply("ZZ", key)
    with pytest.raises(UndecryptableReplyError):
        decrypt_reply(reply, b"B123456zA123456z")


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    """A gateway client in encrypted mode."""
    async with aiohttp.ClientSession() as session:
        yield Gateway(
            session=session,
            url=GATEWAY,
            appkey=APPKEY,
            secret_key=SECRET_KEY,
            public_key=load_public_key(PORTAL_KEY),
        )


class FakeGateway:
    """Answers encrypted calls like the cloud, with a clock of its own."""

    def __init__(self, server_ms: int) -> None:
        """Run the gateway's clock at `server_ms`."""
        self.server_ms = server_ms
        self.timestamps: list[int] = []

    def answer(self, _url: Any, **kwargs: Any) -> CallbackResult:
        """Reply E913 unless the call's timestamp is within 5 minutes of the server's clock."""
        headers = kwargs["headers"]
        key, body = open_request(headers["x-random-secret-key"], kwargs["data"])
        self.timestamps.append(int(body["api_key_param"]["timestamp"]))
        if abs(self.timestamps[-1] - self.server_ms) > 300_000:
            return CallbackResult(payload={"result_code": "E913", "result_msg": "Expired request"})
        reply = json.dumps({"result_code": "1", "result_data": {"echo": body["appkey"]}})
        return CallbackResult(body=aes(key, reply.encode(), decrypt=False).hex().upper())


async def test_an_encrypted_call_round_trip(responses: aioresponses, gateway: Gateway) -> None:
    """The gateway gets ciphertext and the client reads the decrypted reply."""
    fake = FakeGateway(int(time.time() * 1000))
    responses.post(f"{GATEWAY}/openapi/x", callback=fake.answer)

    envelope = await gateway.post("/openapi/x", {})

    assert envelope["result_data"] == {"echo": APPKEY}


async def test_a_skewed_clock_is_corrected_once_with_the_gateway_time(
    responses: aioresponses, gateway: Gateway
) -> None:
    """E913 makes the client read GET /timestamp once and call again with the gateway's time."""
    server_ms = int(time.time() * 1000) - 3_600_000
    fake = FakeGateway(server_ms)
    responses.post(f"{GATEWAY}/openapi/x", callback=fake.answer, repeat=3)
    responses.get(
        f"{GATEWAY}/timestamp", payload={"result_code": "1", "result_data": str(server_ms)}
    )

    first = await gateway.post("/openapi/x", {})
    second = await gateway.post("/openapi/x", {})

    assert first["result_code"] == second["result_code"] == "1"
    assert len(fake.timestamps) == 3
    assert abs(fake.timestamps[1] - server_ms) < 5_000
    assert len(responses.requests[("GET", URL(f"{GATEWAY}/timestamp"))]) == 1


async def test_an_unreadable_timestamp_says_to_check_the_clock(
    responses: aioresponses, gateway: Gateway
) -> None:
    """If /timestamp cannot be read after E913, the message points at the host's clock."""
    fake = FakeGateway(0)
    responses.post(f"{GATEWAY}/openapi/x", callback=fake.answer)
    responses.get(f"{GATEWAY}/timestamp", body="<html>")

    with pytest.raises(ISolarCloudResponseError, match="system clock") as raised:
        await gateway.post("/openapi/x", {})

    assert raised.value.code == "E913"


@pytest.mark.parametrize(
    ("code", "advice"),
    [("E902", "'rsa_public_key' option"), ("E906", "check the 'rsa_public_key'")],
)
async def test_encryption_errors_name_the_option(
    responses: aioresponses, gateway: Gateway, code: str, advice: str
) -> None:
    """A plain-JSON gateway error about encryption says what to set."""
    responses.post(f"{GATEWAY}/openapi/x", payload={"result_code": code, "result_msg": "x"})

    with pytest.raises(ISolarCloudAuthenticationError, match=advice):
        await gateway.post("/openapi/x", {})
