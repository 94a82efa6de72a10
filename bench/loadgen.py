"""Small load generators: N keep-alive connections over loopback, each sending
one request at a time, as fast as answers come back; requests per second and
the latency of each answer (p50, p99). HTTP/1.1 (`run`) and gRPC (`run_grpc`,
one channel per connection, raw request bytes), each over TLS when given a
client context or credentials.

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
        self.sent = time.perf_counter()
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
            state["answered"] += 1
            if state["measuring"]:
                state["done"] += 1
                state["latencies"].append(time.perf_counter() - self.sent)
                if status != 200:
                    state["errors"] += 1
            if state["stop"]:
                self.transport.close()
                return
            self.sent = time.perf_counter()
            self.transport.write(self.request)


async def _run(host: str, port: int, request: bytes, connections: int, warmup: float, seconds: float,
               tls) -> dict:
    loop = asyncio.get_running_loop()
    state = {"measuring": False, "stop": False, "done": 0, "answered": 0, "errors": 0, "latencies": []}
    transports = []
    for _ in range(connections):
        transport, _ = await loop.create_connection(lambda: _Connection(request, state), host, port, ssl=tls)
        transports.append(transport)
    elapsed = await _measure(state, warmup, seconds)
    await asyncio.sleep(0.2)
    for transport in transports:
        transport.close()
    return _outcome(state, elapsed)


async def _measure(state: dict, warmup: float, seconds: float) -> float:
    """Lets the load warm up, counts only what completes in the next `seconds`,
    then tells the senders to stop; returns the measured window's length."""
    await asyncio.sleep(warmup)
    state["measuring"] = True
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    state["measuring"] = False
    elapsed = time.perf_counter() - started
    state["stop"] = True
    return elapsed


def _outcome(state: dict, elapsed: float) -> dict:
    latencies = sorted(state["latencies"]) or [0.0]

    def at(fraction):
        return latencies[min(len(latencies) - 1, int(fraction * len(latencies)))] * 1e3

    # answered: warm-up included, for a server's CPU time per request over the whole run
    return {"rps": state["done"] / elapsed, "requests": state["done"], "answered": state["answered"],
            "errors": state["errors"],
            "p50_ms": at(0.50), "p99_ms": at(0.99)}


async def _run_grpc(target: str, method: str, request: bytes, metadata, connections: int, warmup: float,
                    seconds: float, credentials) -> dict:
    import grpc.aio

    state = {"measuring": False, "stop": False, "done": 0, "answered": 0, "errors": 0, "latencies": []}
    # A local subchannel pool per channel: each is its own TCP connection.
    options = [("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.aio.insecure_channel(target, options=options) if credentials is None
                else grpc.aio.secure_channel(target, credentials, options=options) for _ in range(connections)]

    async def loop(channel):
        call = channel.unary_unary(method)
        while not state["stop"]:
            sent = time.perf_counter()
            try:
                await call(request, metadata=metadata, timeout=10)
                ok = True
            except grpc.aio.AioRpcError:
                ok = False
            state["answered"] += 1
            if state["measuring"]:
                state["done"] += 1
                state["latencies"].append(time.perf_counter() - sent)
                state["errors"] += not ok

    tasks = [asyncio.create_task(loop(channel)) for channel in channels]
    elapsed = await _measure(state, warmup, seconds)
    await asyncio.gather(*tasks)
    for channel in channels:
        await channel.close()
    return _outcome(state, elapsed)


def run_grpc(target: str, method: str, request: bytes, metadata, *, connections: int = 32, warmup: float = 1.0,
             seconds: float = 5.0, credentials=None) -> dict:
    """`credentials`: grpc.ssl_channel_credentials(...) for a TLS port."""
    return asyncio.run(_run_grpc(target, method, request, tuple(metadata), connections, warmup, seconds, credentials))


def run(host: str, port: int, request: bytes, *, connections: int = 32, warmup: float = 1.0,
        seconds: float = 5.0, tls=None) -> dict:
    """`tls`: an ssl.SSLContext trusting the server, for a TLS port."""
    import uvloop

    return uvloop.run(_run(host, port, request, connections, warmup, seconds, tls))


def post_request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "host: " + headers.pop("host", "127.0.0.1"),
             "content-type: application/json", f"content-length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
