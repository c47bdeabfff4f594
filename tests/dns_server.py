"""A small authoritative DNS server for tests, on 127.0.0.1 (UDP and TCP on one ephemeral port).

Built on socketserver rather than dnslib's DNSServer: that one always replies, so it can neither
drop a query (never_answer) nor truncate a UDP reply the way a real server does; dnslib here only
packs and parses messages.
"""

import select
import socket
import socketserver
import struct
import threading
from types import TracebackType
from typing import Any

from dnslib import AAAA, CNAME, EDNS0, MX, PTR, QTYPE, RCODE, RR, TXT, A, DNSLabel, DNSRecord

_TYPES = ("A", "AAAA", "MX", "PTR", "CNAME", "TXT")
_MAX_CNAME_CHAIN = 8
_NO_EDNS_UDP_LIMIT = 512  # RFC 1035 §4.2.1
_OUR_EDNS_PAYLOAD = 1232
_TCP_IDLE = 2.0  # seconds a TCP connection may sit without sending before it is closed
_MAX_TCP_MESSAGES = 64  # per connection
_BIND_ATTEMPTS = 20


def _norm(name: str | DNSLabel) -> str:
    return str(name).rstrip(".").lower()


def _rdata(rdtype: str, value: str) -> Any:
    if rdtype == "A":
        return A(value)
    if rdtype == "AAAA":
        return AAAA(value)
    if rdtype == "MX":
        preference, exchange = value.split(maxsplit=1)
        return MX(exchange, int(preference))
    if rdtype == "PTR":
        return PTR(value)
    if rdtype == "CNAME":
        return CNAME(value)
    data = value.encode()
    # A character-string holds at most 255 bytes (RFC 1035 §3.3); longer values are split, as
    # DKIM keys are published (RFC 6376 §3.6.2.2).
    return TXT([data[i : i + 255] for i in range(0, len(data), 255)] or [b""])


class DnsServer:
    """Authoritative for every name added: resolvers see NOERROR/NODATA/NXDOMAIN as from a real
    zone. A CNAME whose target was not added is answered alone (as for an out-of-zone target).
    Negative answers carry no SOA."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.queries: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._records: dict[str, list[tuple[str, int, str]]] = {}
        self._never_answer: set[str] = set()
        self._servfail: set[str] = set()
        self._stopping = threading.Event()
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []

    # -- the test's side ------------------------------------------------------------------------
    def add(self, name: str, rdtype: str, *values: str, ttl: int = 300) -> None:
        rdtype = rdtype.upper()
        if rdtype not in _TYPES:
            raise ValueError(f"unsupported record type {rdtype}")
        for value in values:
            _rdata(rdtype, value)  # fail here, in the test, not in the server thread
        with self._lock:
            self._records.setdefault(_norm(name), []).extend((rdtype, ttl, v) for v in values)

    def never_answer(self, name: str) -> None:
        with self._lock:
            self._never_answer.add(_norm(name))

    def servfail(self, name: str) -> None:
        with self._lock:
            self._servfail.add(_norm(name))

    def reset(self) -> None:
        with self._lock:
            self._records.clear()
            self._never_answer.clear()
            self._servfail.clear()
            self.queries.clear()

    def query_count(self, name: str, rdtype: str) -> int:
        with self._lock:
            return self.queries.count((_norm(name), rdtype.upper()))

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "DnsServer":
        owner = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                reply = owner._answer(data, udp=True)
                if reply is not None:
                    sock.sendto(reply, self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner._serve_tcp(self.request)

        for _ in range(_BIND_ATTEMPTS):
            udp = socketserver.ThreadingUDPServer((self.host, 0), Udp)
            try:
                tcp = socketserver.ThreadingTCPServer((self.host, udp.server_address[1]), Tcp)
            except OSError:  # that port number is taken for TCP: pick another
                udp.server_close()
                continue
            break
        else:
            raise RuntimeError("no port free for both UDP and TCP")
        self.port = udp.server_address[1]
        self._stopping.clear()
        for server in (udp, tcp):
            server.daemon_threads = True
            self._servers.append(server)
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> "DnsServer":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the server's side ----------------------------------------------------------------------
    def _serve_tcp(self, sock: socket.socket) -> None:
        for _ in range(_MAX_TCP_MESSAGES):
            length = self._recv_exactly(sock, 2)
            if length is None:
                return
            data = self._recv_exactly(sock, struct.unpack("!H", length)[0])
            if data is None:
                return
            reply = self._answer(data, udp=False)
            if reply is not None:
                sock.sendall(struct.pack("!H", len(reply)) + reply)

    def _recv_exactly(self, sock: socket.socket, size: int) -> bytes | None:
        """`size` bytes, or None on EOF, idleness or stop (a dropped query keeps the connection
        open and silent until the client gives up, as a stuck server would)."""
        data = b""
        waited = 0.0
        while len(data) < size and waited < _TCP_IDLE and not self._stopping.is_set():
            readable, _, _ = select.select([sock], [], [], 0.05)
            if not readable:
                waited += 0.05
                continue
            chunk = sock.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data if len(data) == size else None

    def _answer(self, data: bytes, *, udp: bool) -> bytes | None:
        try:
            request = DNSRecord.parse(data)
        except Exception:  # garbage gets no reply, as from many real servers
            return None
        if not request.questions:
            return None
        question = request.questions[0]
        qname, qtype = _norm(question.qname), QTYPE.get(question.qtype)
        with self._lock:
            self.queries.append((qname, qtype))
            if qname in self._never_answer:
                return None
            failing = qname in self._servfail
            records = {name: list(rrs) for name, rrs in self._records.items()}

        reply = request.reply(ra=0, aa=1)
        opt = next((rr for rr in request.ar if rr.rtype == QTYPE.OPT), None)
        if opt is not None:
            reply.add_ar(EDNS0(udp_len=_OUR_EDNS_PAYLOAD))
        if failing:
            reply.header.rcode = RCODE.SERVFAIL
            return bytes(reply.pack())
        owner, name = question.qname, qname
        if name not in records:
            reply.header.rcode = RCODE.NXDOMAIN
        for _ in range(_MAX_CNAME_CHAIN + 1):
            rrs = records.get(name, [])
            matching = [(t, ttl, v) for t, ttl, v in rrs if t == qtype]
            cname = next(((t, ttl, v) for t, ttl, v in rrs if t == "CNAME"), None)
            if matching or cname is None or qtype == "CNAME":
                for t, ttl, v in matching:
                    reply.add_answer(RR(owner, getattr(QTYPE, t), rdata=_rdata(t, v), ttl=ttl))
                break
            reply.add_answer(RR(owner, QTYPE.CNAME, rdata=_rdata("CNAME", cname[2]), ttl=cname[1]))
            owner, name = DNSLabel(cname[2]), _norm(cname[2])
        packed = bytes(reply.pack())
        limit = max(_NO_EDNS_UDP_LIMIT, opt.rclass) if opt is not None else _NO_EDNS_UDP_LIMIT
        if udp and len(packed) > limit:
            # TC with the question and no records: the client asks again over TCP (RFC 7766).
            truncated = request.reply(ra=0, aa=1)
            truncated.header.tc = 1
            if opt is not None:
                truncated.add_ar(EDNS0(udp_len=_OUR_EDNS_PAYLOAD))
            packed = bytes(truncated.pack())
        return packed
