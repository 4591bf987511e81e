"""A minimal keep-alive HTTP/1.1 client on asyncio streams, for load generation only.

Why not httpx: on this 2-core machine the load generator shares the CPU with the host, and
httpx's AsyncClient costs 1 to 4 ms of client CPU per request here (its connection pool, h11,
anyio; and httpcore retries `import sniffio` on every request when sniffio is not installed,
as with recent anyio). That caps it near 300-800 requests/s whatever the server does, so it
would measure httpx, not the host. This client writes pre-built requests and parses only the
status line, Content-Length and the body: a few microseconds each.

It understands exactly what uvicorn answers (Content-Length bodies, keep-alive); nothing else.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


class HttpError(RuntimeError):
    pass


class Connection:
    """One keep-alive connection to 127.0.0.1 that sends one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send a complete request (see `build`); the status and the body."""
        self._writer.write(raw)
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self._reader.readexactly(length)

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()


def build(method: str, path: str, port: int, headers: dict[str, str], body: Any = None) -> bytes:
    """The bytes of one request, built once and sent as often as needed."""
    payload = b"" if body is None else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
