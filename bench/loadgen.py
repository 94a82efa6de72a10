"""A small HTTP/1.1 load generator: N keep-alive connections over loopback,
each sending one request at a time, as fast as answers come back.

asyncio Protocols on uvloop with the request pre-encoded, so on a small
machine the server, not the generator, is what runs out of CPU.
"""

from __future__ import annotations

import asyncio
import time


class _Connection(asyncio.Protocol):
    def __init__(self, request: bytes, state: dict):
        self.request, self.state = request, state
        self.buffer = b""
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end]
            length_at = head.lower().find(b"content-length:")
            length = int(head[length_at + 15:].split(b"\r\n", 1)[0]) if length_at >= 0 else 0
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            status = int(head[9:12])
            self.buffer = self.buffer[end:]
            state = self.state
            if state["measuring"]:
                state["done"] += 1
                if status != 200:
                    state["errors"] += 1
            if state["stop"]:
                self.transport.close()
                return
            self.transport.write(self.request)


async def _run(host: str, port: int, request: bytes, connections: int, warmup: float, seconds: float) -> dict:
    loop = asyncio.get_running_loop()
    state = {"measuring": False, "stop": False, "done": 0, "errors": 0}
    transports = []
    for _ in range(connections):
        transport, _ = await loop.create_connection(lambda: _Connection(request, state), host, port)
        transports.append(transport)
    await asyncio.sleep(warmup)
    state["measuring"] = True
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    state["measuring"] = False
    elapsed = time.perf_counter() - started
    state["stop"] = True
    await asyncio.sleep(0.2)
    for transport in transports:
        transport.close()
    return {"rps": state["done"] / elapsed, "requests": state["done"], "errors": state["errors"]}


def run(host: str, port: int, request: bytes, *, connections: int = 32, warmup: float = 1.0,
        seconds: float = 5.0) -> dict:
    import uvloop

    return uvloop.run(_run(host, port, request, connections, warmup, seconds))


def post_request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "host: " + headers.pop("host", "127.0.0.1"),
             "content-type: application/json", f"content-length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
