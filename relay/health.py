"""HTTP /healthz on its own port: 200 while accepting mail, 503 once draining, so the load
balancer stops sending new connections before the task stops."""

import asyncio
import contextlib
from collections.abc import Callable


async def serve_health(host: str, port: int, is_draining: Callable[[], bool]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=5)
            # Drain headers so the client sees a clean response, bounded in count and time.
            for _ in range(100):
                line = await asyncio.wait_for(reader.readline(), timeout=5)
                if line in (b"\r\n", b"\n", b""):
                    break
            parts = request.split()
            if len(parts) < 2 or parts[0] not in (b"GET", b"HEAD"):
                status, body = "405 Method Not Allowed", b"method not allowed\n"
            elif parts[1].split(b"?")[0] != b"/healthz":
                status, body = "404 Not Found", b"not found\n"
            elif is_draining():
                status, body = "503 Service Unavailable", b"draining\n"
            else:
                status, body = "200 OK", b"ok\n"
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode("ascii")
            writer.write(head + (body if parts and parts[0] != b"HEAD" else b""))
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port)
