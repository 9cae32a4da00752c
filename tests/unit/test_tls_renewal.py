"""A running store renews its serving certificate without a restart (issue 8)."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from statestore import server, tls


async def _served_expiry(port: int, ca: Path) -> datetime.datetime:
    context = ssl.create_default_context(cafile=str(ca))
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
    return x509.load_der_x509_certificate(der).not_valid_after_utc


async def test_an_expiring_cert_is_renewed_into_the_listening_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as short:
        short.setattr(tls, "SERVING_LIFETIME", datetime.timedelta(days=10))
        files = tls.self_signed(tmp_path, "127.0.0.1")
    assert files.ca is not None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(files.cert), str(files.key))

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    listener = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    port = listener.sockets[0].getsockname()[1]
    now = datetime.datetime.now(datetime.UTC)
    assert await _served_expiry(port, files.ca) - now < datetime.timedelta(days=11)
    renewal = asyncio.create_task(
        server._renew_serving_cert(context, tmp_path, "127.0.0.1", [], every=0.05)
    )
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while await _served_expiry(port, files.ca) - now < datetime.timedelta(days=300):
            assert asyncio.get_running_loop().time() < deadline, "not renewed"
            await asyncio.sleep(0.05)
    finally:
        renewal.cancel()
        listener.close()
        await listener.wait_closed()
