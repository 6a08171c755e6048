"""The simulator's encrypted mode, against a client written here from Sungrow's appendices 4-7."""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from const import APPKEY, PASSWORD, PLANT_PS_KEY, SECRET_KEY, USERNAME
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.padding import PKCS7

from sungrow.simulator import CloudSimulator, SimApp

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from conftest import Clock

AES_KEY = b"A123456zA123456z"  # Appendix 7's example key
HEADERS = {"x-access-key": SECRET_KEY, "sys_code": "901"}
OTHER_APPKEY = "0THERAPPKEY000000000000000000000"
OTHER_SECRET = "other-secret-key-0000000000000000"


def rsa_encrypt(public_key: str, data: bytes) -> bytes:
    """Encrypt with the portal's key (URL-safe base64 X.509 DER), PKCS#1 v1.5 (Appendix 4)."""
    der = base64.urlsafe_b64decode(public_key + "=" * (-len(public_key) % 4))
    key = serialization.load_der_public_key(der)
    assert isinstance(key, rsa.RSAPublicKey)
    return key.encrypt(data, padding.PKCS1v15())


def aes_encrypt(key: bytes, text: str) -> str:
    """AES-128-ECB, PKCS5 padding, uppercase hex (Appendix 5)."""
    padder = PKCS7(128).padder()
    padded = padder.update(text.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 - the vendor's protocol
    return (encryptor.update(padded) + encryptor.finalize()).hex().upper()


def aes_decrypt(key: bytes, text: str) -> str:
    """Reverse `aes_encrypt` (Appendix 6)."""
    decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()  # noqa: S305 - the vendor's protocol
    padded = decryptor.update(bytes.fromhex(text)) + decryptor.finalize()
    unpadder = PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode()


def new_nonce() -> str:
    """32 random letters and digits."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))


class Client:
    """Posts encrypted calls to the simulator as Appendix 7 describes."""

    def __init__(
        self, http: aiohttp.ClientSession, url: str, simulator: CloudSimulator, clock: Clock
    ) -> None:
        """Talk to the simulator at `url`."""
        self.http, self.url, self.simulator, self.clock = http, url, simulator, clock

    def stamp(self, offset: timedelta = timedelta()) -> str:
        """Return the simulator's time in epoch milliseconds, as a string."""
        return str(int((self.clock.now + offset).timestamp() * 1000))

    def signed(self, body: dict[str, Any]) -> dict[str, Any]:
        """Add api_key_param with a fresh nonce and the current time."""
        return {**body, "api_key_param": {"nonce": new_nonce(), "timestamp": self.stamp()}}

    def secret(self, key: bytes = AES_KEY) -> str:
        """Return `x-random-secret-key`: the RSA-encrypted AES key, URL-safe base64."""
        return base64.urlsafe_b64encode(rsa_encrypt(self.simulator.rsa_public_key, key)).decode()

    async def send(
        self,
        path: str,
        data: str,
        *,
        secret: str | None = None,
        headers: dict[str, str] = HEADERS,
    ) -> str:
        """POST a ready body with the random key header; return the reply text."""
        all_headers = {
            **headers,
            "Content-Type": "application/json;charset=UTF-8",
            "x-random-secret-key": self.secret() if secret is None else secret,
        }
        async with self.http.post(self.url + path, data=data, headers=all_headers) as response:
            assert response.status == 200
            return await response.text()

    async def call(
        self, path: str, body: dict[str, Any], *, key: bytes = AES_KEY, **kwargs: Any
    ) -> dict[str, Any]:
        """Send an encrypted body; expect an encrypted reply and return it decrypted."""
        text = await self.send(
            path, aes_encrypt(key, json.dumps(body)), secret=self.secret(key), **kwargs
        )
        assert re.fullmatch(r"[0-9A-F]+", text), text
        answer: dict[str, Any] = json.loads(aes_decrypt(key, text))
        return answer

    async def plaintext_error(self, path: str, data: str, **kwargs: Any) -> str:
        """Send a body; expect a plaintext error envelope and return its code."""
        text = await self.send(path, data, **kwargs)
        answer = json.loads(text)
        assert answer["result_data"] is None
        code: str = answer["result_code"]
        return code


def login_body() -> dict[str, Any]:
    """The login body of Appendix 7, without api_key_param."""
    return {
        "appkey": APPKEY,
        "login_type": "1",
        "user_account": USERNAME,
        "user_password": PASSWORD,
    }


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A bare HTTP session."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def client(
    http: aiohttp.ClientSession, cloud_url: str, simulator: CloudSimulator, clock: Clock
) -> Client:
    """An encrypting client of the simulator."""
    return Client(http, cloud_url, simulator, clock)


def test_public_key_is_the_portals_form(simulator: CloudSimulator) -> None:
    """URL-safe base64 of a 1024-bit X.509 key, without padding, the same on every read."""
    text = simulator.rsa_public_key

    assert re.fullmatch(r"[A-Za-z0-9_-]{216}", text)
    assert text.startswith("MIGfMA0G")
    key = serialization.load_der_public_key(base64.urlsafe_b64decode(text))
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == 1024
    assert simulator.rsa_public_key == text


@pytest.mark.parametrize(
    "encode",
    [
        base64.urlsafe_b64encode,
        lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"="),
        base64.b64encode,
        lambda raw: base64.b64encode(raw).rstrip(b"="),
    ],
    ids=["url-safe", "url-safe-unpadded", "standard", "standard-unpadded"],
)
async def test_encrypted_login_gets_an_encrypted_reply(
    client: Client, simulator: CloudSimulator, encode: Any
) -> None:
    """Any base64 form of the key header works; the reply is uppercase hex under the same key."""
    secret = encode(rsa_encrypt(simulator.rsa_public_key, AES_KEY)).decode()
    body = client.signed(login_body())

    text = await client.send(
        "/openapi/login", aes_encrypt(AES_KEY, json.dumps(body)), secret=secret
    )

    assert re.fullmatch(r"[0-9A-F]+", text)
    answer = json.loads(aes_decrypt(AES_KEY, text))
    assert answer["result_code"] == "1"
    assert answer["result_data"]["login_state"] == "1"
    (call,) = simulator.calls
    assert call.encrypted
    assert call.body == body


async def test_lowercase_hex_body_is_accepted(client: Client) -> None:
    """The body's hex may be lowercase."""
    body = aes_encrypt(AES_KEY, json.dumps(client.signed(login_body()))).lower()

    text = await client.send("/openapi/login", body)

    assert json.loads(aes_decrypt(AES_KEY, text))["result_code"] == "1"


async def test_an_encrypted_session_reads_real_time_data(client: Client) -> None:
    """Login and a data call, both encrypted, each with its own key and nonce."""
    login = await client.call("/openapi/login", client.signed(login_body()))
    body = {
        "appkey": APPKEY,
        "token": login["result_data"]["token"],
        "device_type": 11,
        "ps_key_list": [PLANT_PS_KEY],
        "point_id_list": ["83022"],
    }

    answer = await client.call("/openapi/getDeviceRealTimeData", client.signed(body), key=b"z" * 16)

    (entry,) = answer["result_data"]["device_point_list"]
    assert re.fullmatch(r"\d+\.\d", entry["device_point"]["p83022"])


async def test_business_errors_are_encrypted_too(client: Client) -> None:
    """Once the key is known, every answer is encrypted, an expired token's included."""
    body = {"appkey": APPKEY, "token": "1_x", "curPage": 1, "size": 10}

    answer = await client.call("/openapi/getPowerStationList", client.signed(body))

    assert answer["result_code"] == "E00003"


async def test_plaintext_call_refused_when_the_app_requires_encryption(
    simulator: CloudSimulator, http: aiohttp.ClientSession, cloud_url: str
) -> None:
    """An application set to require encryption gets E902 in plaintext."""
    simulator.apps[0] = SimApp(appkey=APPKEY, access_key=SECRET_KEY, require_encryption=True)

    async with http.post(cloud_url + "/openapi/login", json=login_body(), headers=HEADERS) as reply:
        answer = await reply.json()

    assert answer["result_code"] == "E902"
    assert answer["result_msg"] == "Request is not encrypted"


async def test_encrypted_call_accepted_when_the_app_requires_encryption(
    simulator: CloudSimulator, client: Client
) -> None:
    """The same application's encrypted call goes through."""
    simulator.apps[0] = SimApp(appkey=APPKEY, access_key=SECRET_KEY, require_encryption=True)

    answer = await client.call("/openapi/login", client.signed(login_body()))

    assert answer["result_code"] == "1"


@pytest.mark.parametrize(
    ("headers", "code"),
    [({"sys_code": "901"}, "E911"), ({"x-access-key": "nope", "sys_code": "901"}, "E912")],
)
async def test_access_key_errors_stay_plaintext(
    client: Client, headers: dict[str, str], code: str
) -> None:
    """Access-key errors come before decryption and are sent in plaintext."""
    body = aes_encrypt(AES_KEY, json.dumps(client.signed(login_body())))

    assert await client.plaintext_error("/openapi/login", body, headers=headers) == code


@pytest.mark.parametrize(
    "secret",
    ["", "not base64 at all!", "AAAA", base64.urlsafe_b64encode(bytes(200)).decode()],
    ids=["empty", "not-base64", "too-short", "too-long"],
)
async def test_undecryptable_key_header_is_e906(client: Client, secret: str) -> None:
    """A key header RSA cannot decrypt is E906, in plaintext."""
    body = aes_encrypt(AES_KEY, json.dumps(client.signed(login_body())))

    assert await client.plaintext_error("/openapi/login", body, secret=secret) == "E906"


@pytest.mark.parametrize("key", [b"A123456zA123456", b"A123456zA123456zA123456zA123456z"])
async def test_key_of_the_wrong_length_is_e907(client: Client, key: bytes) -> None:
    """The AES key must be 16 bytes (E907, in plaintext)."""
    body = aes_encrypt(AES_KEY, json.dumps(client.signed(login_body())))

    code = await client.plaintext_error("/openapi/login", body, secret=client.secret(key))

    assert code == "E907"


@pytest.mark.parametrize(
    "data",
    ["{}", "ABC", "00" * 15, aes_encrypt(AES_KEY, "x")[:-2]],
    ids=["json", "odd-hex", "short-block", "truncated"],
)
async def test_undecryptable_body_is_e905(
    client: Client, simulator: CloudSimulator, data: str
) -> None:
    """A body that is not AES ciphertext under the key is E905, in plaintext."""
    assert await client.plaintext_error("/openapi/login", data) == "E905"
    (call,) = simulator.calls
    assert (call.encrypted, call.body, call.result_code) == (True, None, "E905")


async def test_missing_api_key_param_is_e908(client: Client) -> None:
    """An encrypted body needs api_key_param."""
    answer = await client.call("/openapi/login", login_body())

    assert answer["result_code"] == "E908"
    assert answer["result_msg"] == "Missing key parameter: api_key_param"


@pytest.mark.parametrize(
    "nonce",
    [None, "short", "cb360459-bd62-4c6a-b153-08c4b6847856", "cb360459bd624c6ab15308c4b68478567"],
)
async def test_malformed_nonce_is_e909(client: Client, nonce: str | None) -> None:
    """The nonce is 32 letters and digits."""
    body = {**login_body(), "api_key_param": {"nonce": nonce, "timestamp": client.stamp()}}

    answer = await client.call("/openapi/login", body)

    assert answer["result_code"] == "E909"


async def test_repeated_nonce_is_e910_per_appkey(client: Client, simulator: CloudSimulator) -> None:
    """A nonce works once per application; another application may use it."""
    simulator.apps.append(SimApp(appkey=OTHER_APPKEY, access_key=OTHER_SECRET))
    body = client.signed(login_body())
    other = {**body, "appkey": OTHER_APPKEY}
    other_headers = {"x-access-key": OTHER_SECRET, "sys_code": "901"}

    first = await client.call("/openapi/login", body)
    again = await client.call("/openapi/login", body)
    elsewhere = await client.call("/openapi/login", other, headers=other_headers)

    assert first["result_code"] == "1"
    assert again["result_code"] == "E910"
    assert again["result_msg"] == "Repeated request"
    assert elsewhere["result_code"] == "1"


@pytest.mark.parametrize(
    ("offset", "as_number", "code"),
    [
        (timedelta(minutes=-4), False, "1"),
        (timedelta(minutes=4), True, "1"),
        (timedelta(minutes=-6), False, "E913"),
        (timedelta(minutes=6), True, "E913"),
    ],
)
async def test_timestamp_beyond_the_skew_is_e913(
    client: Client, offset: timedelta, *, as_number: bool, code: str
) -> None:
    """Timestamps (string or number) more than five minutes off are expired requests."""
    stamp = client.stamp(offset)
    param = {"nonce": new_nonce(), "timestamp": int(stamp) if as_number else stamp}

    answer = await client.call("/openapi/login", {**login_body(), "api_key_param": param})

    assert answer["result_code"] == code


async def test_timestamp_endpoint(
    http: aiohttp.ClientSession, cloud_url: str, clock: Clock
) -> None:
    """GET /timestamp needs no credentials and tells the gateway's time in epoch ms."""
    async with http.get(cloud_url + "/timestamp") as response:
        answer = await response.json()

    assert answer["result_code"] == "1"
    assert answer["result_data"] == str(int(clock.now.timestamp() * 1000))


async def test_encrypted_oauth_token_exchange(client: Client, simulator: CloudSimulator) -> None:
    """The OAuth paths take encrypted calls too."""
    redirect = "https://example.org/callback"
    simulator.apps[0] = SimApp(
        appkey=APPKEY, access_key=SECRET_KEY, oauth=True, redirect_uri=redirect
    )
    code = simulator.authorize(USERNAME, APPKEY)
    body = {
        "appkey": APPKEY,
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect,
    }

    answer = await client.call(
        "/openapi/apiManage/token", client.signed(body), headers={"x-access-key": SECRET_KEY}
    )

    assert answer["result_code"] == "1"
    assert answer["access_token"] == answer["result_data"]["access_token"]
