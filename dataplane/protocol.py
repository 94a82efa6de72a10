"""uvicorn's httptools protocol with a cap on the request head.

httptools buffers a header of any size before uvicorn sees it (a 50 MB
header is read into memory whole), so the head is fed to the parser in small
pieces and a request whose line and headers pass the cap is answered 431 and
the connection closed, as actix (Qdrant's server) does.

Kept because uvicorn has no such option for httptools, and its one kept
mechanism, h11 with `h11_max_incomplete_event_size`, served 0.28x the
requests per second of this protocol (a trivial ASGI app, 32 connections,
best of 4 x 3 s each, on the 2-core machine, issue 25).
"""

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024
_PIECE = 8 * 1024


class CappedHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._in_head, self._head_bytes = True, 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0

    def data_received(self, data: bytes) -> None:
        while data and self._in_head:
            # Never more than the cap's remaining room: the parser sees at most
            # MAX_HEAD_BYTES of a head, and one more byte without the head's
            # end is refused. (Cutting pieces at 8 KiB but checking after the
            # fact, with a piece of slack for body bytes, let 70,000-byte
            # headers through.)
            room = MAX_HEAD_BYTES - self._head_bytes
            if room <= 0:
                self._refuse()
                return
            size = min(_PIECE, room)
            piece, data = data[:size], data[size:]
            self._head_bytes += len(piece)
            super().data_received(piece)
            if self.transport.is_closing():
                return
        if data:
            super().data_received(data)

    def _refuse(self) -> None:
        body = b"Request Header Fields Too Large"
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
        )
        self.transport.close()
