"""Local sinks for the delivery benchmark: a minimal SMTP server and a minimal HTTP server that
accept everything. Run one per process: ``python bench/sinks.py smtp 2599`` (or ``http 8599``).

Both are hand-written asyncio protocols rather than aiosmtpd/http.server: on a 2-core machine
the sink shares the CPU with the workers and PostgreSQL, and a real relay (Postfix, an SMS
gateway) would not run in this process at all. They speak just enough of each protocol for
smtplib and http.client: every command gets a success reply, every POST a 200 (kept alive).
"""

from __future__ import annotations

import asyncio
import sys

DEADLINE_SECONDS = 3600  # bounded: the benchmark terminates the sink long before


class SmtpSink(asyncio.Protocol):
    """Answers EHLO/MAIL/RCPT/DATA/QUIT; counts nothing, keeps nothing."""

    def connection_made(self, transport):
        self.transport, self.buffer, self.in_data = transport, b"", False
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    return
                self.buffer, self.in_data = self.buffer[end + 5 :], False
                self.transport.write(b"250 2.0.0 queued\r\n")
                continue
            line, sep, rest = self.buffer.partition(b"\r\n")
            if not sep:
                return
            self.buffer = rest
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.transport.write(b"250-sink\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                self.in_data = True
                self.transport.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                self.transport.write(b"221 bye\r\n")
                self.transport.close()
                return
            else:
                self.transport.write(b"250 OK\r\n")


class HttpSink(asyncio.Protocol):
    """Answers every request with ``200`` and an empty body, on a kept-alive connection."""

    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            length = 0
            for line in self.buffer[:head_end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if len(self.buffer) < head_end + 4 + length:
                return
            self.buffer = self.buffer[head_end + 4 + length :]
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


async def serve(kind: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(SmtpSink if kind == "smtp" else HttpSink, "127.0.0.1", port)
    async with server:
        await asyncio.sleep(DEADLINE_SECONDS)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2])))
