"""Local SIEM sinks for the forwarding tests: an HTTP collector and an RFC 5424 syslog listener over TCP.

Both run in a thread on a loopback port and keep what they received, in arrival order.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Received:
    """Batches as they arrived: each a list of (seq, event)."""

    batches: list[list[tuple[int, dict[str, Any]]]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, batch: list[tuple[int, dict[str, Any]]], headers: dict[str, str] | None = None) -> None:
        with self.lock:
            self.batches.append(batch)
            if headers is not None:
                self.headers.append(headers)

    @property
    def seqs(self) -> list[int]:
        with self.lock:
            return [seq for batch in self.batches for seq, _ in batch]

    def wait_for(self, predicate: Any, timeout: float = 60.0) -> None:
        """Poll until `predicate(self)` holds (a condition, not a stopwatch: the bound only ends a hang)."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            assert time.monotonic() < deadline, f"sink got {len(self.seqs)} records: {self.seqs[-5:]}"
            time.sleep(0.02)


def assert_at_least_once_in_order(received: Received, expected: range) -> None:
    """Every record arrived, none missing; each batch in seq order; the first arrivals in seq order."""
    seqs = received.seqs
    assert set(seqs) == set(expected), sorted(set(expected) - set(seqs))
    for batch in received.batches:
        numbers = [seq for seq, _ in batch]
        assert numbers == sorted(numbers)
    first_seen = list(dict.fromkeys(seqs))
    assert first_seen == sorted(first_seen)


@contextmanager
def http_collector(*, hec: bool, delay_s: float = 0.0, port: int = 0) -> Iterator[tuple[str, Received]]:
    """A collector answering 200; `hec` parses Splunk HEC's newline-separated events."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if delay_s:
                time.sleep(delay_s)
            if hec:
                events = [json.loads(line)["event"] for line in body.decode().splitlines() if line]
            else:
                events = json.loads(body)
            received.add([(event["metadata"]["sequence"], event) for event in events], dict(self.headers))
            answer = b'{"text":"Success","code":0}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


#: RFC 5424: PRI VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG
SYSLOG_5424 = re.compile(
    r"^<(?P<pri>\d{1,3})>1 (?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (?P<host>\S+) persona-mcp \d+ "
    r'(?P<msgid>\S{1,32}) \[persona-mcp@32473 seq="(?P<seq>\d+)"(?: call="[^"]*")?\] (?P<msg>\{.*\})$',
    re.S,
)


@contextmanager
def syslog_listener(tls: ssl.SSLContext | None = None) -> Iterator[tuple[int, Received, list[str]]]:
    """A TCP (or, with `tls`, TLS) listener reading octet-counted RFC 5424 frames (RFC 6587); yields
    (port, received, malformed frames)."""
    received = Received()
    malformed: list[str] = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while True:
                length = b""
                while (char := self.rfile.read(1)) not in (b" ", b""):
                    length += char
                if not length:
                    return
                frame = self.rfile.read(int(length)).decode()
                matched = SYSLOG_5424.match(frame)
                if matched is None:
                    malformed.append(frame[:200])
                    continue
                event = json.loads(matched["msg"])
                assert int(matched["seq"]) == event["metadata"]["sequence"]
                received.add([(int(matched["seq"]), event)])

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], received, malformed
    finally:
        server.shutdown()
        server.server_close()


def self_signed_tls(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context for 127.0.0.1 with a fresh self-signed certificate, and that certificate's PEM
    (the CA file a client trusts)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "sink.pem", directory / "sink.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file
