"""A real HTTP receiver on 127.0.0.1 for the webhook tests: it records every request and answers
from a script of statuses (the last one repeats), or holds the request unanswered."""

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Script:
    statuses: list[int] = field(default_factory=lambda: [204])
    hang_seconds: float = 0.0  # hold each request this long before answering
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def bodies(self) -> list[bytes]:
        with self.lock:
            return [r.body for r in self.requests]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def receiver(script: Script, port: int = 0) -> Iterator[str]:
    """Serve on 127.0.0.1:`port` until the block ends; yields the URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with script.lock:
                script.requests.append(
                    Request(self.path, dict(self.headers.items()), body, time.time())
                )
            if script.hang_seconds:
                time.sleep(script.hang_seconds)
            status = script.next_status()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            if 300 <= status < 400:
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/inlet"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
