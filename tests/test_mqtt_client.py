"""The add-on's own MQTT client against a real Mosquitto, seen by an independent client."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import pytest

from sungrow.publish.mqtt_client import Message, MqttConnection, MqttError, MqttRefusedError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from mosquitto import Listener, Mosquitto


async def connect(broker: Mosquitto, name: str = "sungrow-test", **settings: Any) -> MqttConnection:
    """Open a session with the test broker."""
    return await MqttConnection.open("127.0.0.1", broker.port, client_id=name, **settings)


@contextlib.asynccontextmanager
async def fake_broker(
    answer: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[int]:
    """Serve something on a free port that is not quite an MQTT broker; yield the port."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await answer(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_a_batch_arrives_in_order_and_retained(
    mosquitto: Mosquitto, listener: Listener
) -> None:
    """Many messages in one write, QoS 0 and 1 mixed: all there, in order, retained."""
    connection = await connect(mosquitto)
    batch = [Message(f"batch/{n}", str(n).encode(), n % 2, retain=True) for n in range(300)]

    await connection.publish_all(batch)
    await listener.wait_for("batch/299")
    await connection.close()

    late = await connect(mosquitto, "late-subscriber")
    await late.subscribe("batch/#")
    retained = []
    async with asyncio.timeout(5):
        async for message in late.messages():
            retained.append(message)
            if len(retained) == len(batch):
                break
    await late.close()

    seen = [(topic, payload) for topic, payload, _ in listener.seen if topic.startswith("batch/")]
    assert seen == [(message.topic, message.payload) for message in batch]
    assert {(m.topic, m.payload, m.retain) for m in retained} == {
        (m.topic, m.payload, True) for m in batch
    }


async def test_subscribed_messages_are_received(mosquitto: Mosquitto) -> None:
    """What another client publishes on a subscribed topic comes out of messages()."""
    connection = await connect(mosquitto)
    await connection.subscribe("homeassistant/status", "other/topic")
    sender = await connect(mosquitto, "sender")
    await sender.publish_all([Message("homeassistant/status", b"online", 1)])

    async with asyncio.timeout(5):
        received = await anext(aiter(connection.messages()))

    assert (received.topic, received.payload) == ("homeassistant/status", b"online")
    await sender.close()
    await connection.close()


async def test_the_last_will_is_sent_when_the_connection_drops(
    mosquitto: Mosquitto, listener: Listener
) -> None:
    """A dropped connection (no goodbye) makes the broker publish the will."""
    will = Message("sungrow_isolarcloud/status", b"offline", 1, retain=True)
    connection = await connect(mosquitto, will=will)
    connection._writer.transport.abort()  # a crash: no goodbye

    assert await listener.wait_for("sungrow_isolarcloud/status") == b"offline"
    await connection.close()


async def test_a_goodbye_drops_the_last_will(mosquitto: Mosquitto, listener: Listener) -> None:
    """close() says DISCONNECT: the broker discards the will."""
    will = Message("sungrow_isolarcloud/status", b"offline", 1, retain=True)
    connection = await connect(mosquitto, will=will)
    await connection.close()
    await asyncio.sleep(0.5)

    assert "sungrow_isolarcloud/status" not in listener.retained


async def test_pings_keep_a_quiet_session_alive(mosquitto: Mosquitto) -> None:
    """With a 1 s keepalive (the broker drops silence of 1.5 s), 2.5 s later it is still open."""
    connection = await connect(mosquitto, keepalive=1)
    await asyncio.sleep(2.5)

    await connection.publish_all([Message("alive", b"yes", 1)])
    await connection.close()


async def test_a_wrong_password_is_a_refusal_with_its_code() -> None:
    """CONNACK 5 (not authorized) becomes MqttRefusedError(5), not a connection failure."""

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(bytes([0x20, 2, 0, 5]))
        await writer.drain()

    async with fake_broker(refuse) as port:
        with pytest.raises(MqttRefusedError, match="not authorized") as refused:
            await MqttConnection.open("127.0.0.1", port, client_id="x", password="secret")

    assert refused.value.code == 5


async def test_something_that_is_not_a_broker_is_an_error() -> None:
    """An HTTP server on the port: a clear MqttError, no hang."""

    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()

    async with fake_broker(http) as port:
        with pytest.raises(MqttError, match="did not answer as an MQTT broker"):
            await MqttConnection.open("127.0.0.1", port, client_id="x", timeout=2)


async def test_a_silent_server_times_out() -> None:
    """A server that accepts and never answers: MqttError after the timeout."""

    async def silent(reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        await asyncio.sleep(3)

    async with fake_broker(silent) as port:
        with pytest.raises(MqttError):
            await MqttConnection.open("127.0.0.1", port, client_id="x", timeout=0.5)


async def test_a_connection_that_breaks_ends_the_messages_and_fails_publishing(
    mosquitto: Mosquitto,
) -> None:
    """The broker goes away: messages() raises, a publish raises, nothing hangs."""
    connection = await connect(mosquitto)
    await connection.subscribe("x")
    mosquitto.stop()

    async def drain() -> None:
        async with asyncio.timeout(5):
            async for _ in connection.messages():
                pass

    with pytest.raises(MqttError):
        await drain()
    with pytest.raises(MqttError):
        await connection.publish_all([Message("x", b"1", 1)])
    await connection.close()
