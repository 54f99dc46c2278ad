"""OPC UA TCP frames a well-behaved client library would never send, over a plain socket."""

from __future__ import annotations

import asyncio

from asyncua import ua
from asyncua.common.utils import Buffer
from asyncua.ua.ua_binary import struct_from_binary, uatcp_to_binary


def hello(url: str, receive: int = 65535, send: int = 65535) -> bytes:
    return uatcp_to_binary(ua.MessageType.Hello, ua.Hello(
        ReceiveBufferSize=receive, SendBufferSize=send, MaxMessageSize=0, MaxChunkCount=0,
        EndpointUrl=url))


def header(message_type: bytes, size: int) -> bytes:
    """Just a message header claiming `size` bytes (the body never follows)."""
    return message_type + b"F" + size.to_bytes(4, "little") + b"\x00" * 4


async def exchange(url: str, *frames: bytes) -> tuple[bytes, object]:
    """Send the frames on one connection; the server's first answer after them: its message
    type and the decoded message (an ErrorMessage for ERR), b"" if it just closed."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        for frame in frames:
            writer.write(frame)
        await writer.drain()
        answer: tuple[bytes, object] = (b"", None)
        while True:
            head = await reader.read(8)
            if len(head) < 8:
                return answer
            size = int.from_bytes(head[4:8], "little")
            body = await reader.readexactly(size - 8)
            kind = head[:3]
            if kind == b"ERR":
                return kind, struct_from_binary(ua.ErrorMessage, Buffer(body))
            answer = (kind, None)
    finally:
        writer.close()
