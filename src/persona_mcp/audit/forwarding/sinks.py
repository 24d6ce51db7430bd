"""Where forwarded records go: an HTTP endpoint (Splunk HEC or a generic webhook), syslog, or a file.

A sink's `send` returns only once the batch is accepted (a 2xx answer, bytes written to the syslog
connection, a file written and fsynced) and raises `SinkError` otherwise; the forwarder then sends the
same batch again later. Errors never carry the token or a record's content.

Syslog over TCP has no acknowledgement: a batch written just before the listener dies may be lost in the
kernel's buffers. The sink checks the connection is still open before each batch (reconnecting if not),
which covers a listener that restarted between batches; where every record must be confirmed, use HEC
or a webhook.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import anyio
import anyio.abc
import httpx2

from persona_mcp.audit.record import AuditRecord, parse_timestamp
from persona_mcp.config import SiemSettings, SiemSink
from persona_mcp.operator_error import ConfigError

#: One forwarded record: the audit record (seq, kind, outcome) and its OCSF event.
Item = tuple[AuditRecord, Mapping[str, Any]]


class SinkError(Exception):
    """The sink did not accept a batch; the message is safe to log (no token, no record content)."""


class Sink(Protocol):
    name: str

    async def send(self, items: Sequence[Item]) -> None: ...

    async def aclose(self) -> None: ...


def _ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


class HttpSink:
    """POSTs each batch: Splunk HEC's event format (`hec`) or a JSON array of OCSF events (`webhook`)."""

    def __init__(
        self,
        url: str,
        *,
        hec: bool,
        token: str | None,
        ca_file: Path | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        parts = urlsplit(url)
        if hec and parts.path in ("", "/"):
            url = url.rstrip("/") + "/services/collector/event"
        self.name = "hec" if hec else "webhook"
        self._url = url
        self._hec = hec
        headers = {"User-Agent": "persona-mcp-siem"}
        if token:
            headers["Authorization"] = f"Splunk {token}" if hec else f"Bearer {token}"
        verify: ssl.SSLContext | bool = _ssl_context(ca_file) if parts.scheme == "https" else True
        self._client = httpx2.AsyncClient(
            headers=headers, timeout=timeout_seconds, verify=verify, transport=transport
        )

    def _body(self, items: Sequence[Item]) -> tuple[bytes, str]:
        if not self._hec:
            return json.dumps(
                [event for _, event in items], separators=(",", ":")
            ).encode(), "application/json"
        lines = [
            json.dumps(
                {
                    "time": parse_timestamp(record.timestamp).timestamp(),
                    "host": record.instance_id,
                    "source": "persona-mcp",
                    "sourcetype": "ocsf:api_activity",
                    "event": event,
                },
                separators=(",", ":"),
            )
            for record, event in items
        ]
        return "\n".join(lines).encode(), "application/json"

    async def send(self, items: Sequence[Item]) -> None:
        body, content_type = self._body(items)
        try:
            response = await self._client.post(
                self._url, content=body, headers={"Content-Type": content_type}
            )
        except httpx2.HTTPError as exc:
            raise SinkError(f"{self.name} sink unreachable ({type(exc).__name__})") from None
        if not 200 <= response.status_code < 300:
            raise SinkError(f"{self.name} sink answered HTTP {response.status_code}")

    async def aclose(self) -> None:
        await self._client.aclose()


#: RFC 5424 facility 13, "log audit".
_FACILITY_AUDIT = 13
#: Private enterprise number reserved for documentation (RFC 5612), naming our structured-data id.
_SD_ID = "persona-mcp@32473"


def _severity(record: AuditRecord) -> int:
    if record.decision == "denied":
        return 5  # notice
    if record.outcome in ("error", "unknown") or record.kind == "call.outcome_unknown":
        return 4  # warning
    return 6  # informational


def _sd_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _ascii_token(value: str, limit: int) -> str:
    cleaned = "".join(ch for ch in value if 33 <= ord(ch) <= 126)
    return cleaned[:limit] or "-"


def syslog_message(record: AuditRecord, event: Mapping[str, Any], hostname: str) -> bytes:
    """One RFC 5424 message: the OCSF event as MSG, the seq and call id as structured data."""
    moment = parse_timestamp(record.timestamp)
    timestamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}Z"
    params = f'seq="{record.seq}"'
    if record.call_id:
        params += f' call="{_sd_value(record.call_id)}"'
    header = (
        f"<{_FACILITY_AUDIT * 8 + _severity(record)}>1 {timestamp} {_ascii_token(hostname, 255)} "
        f"persona-mcp {os.getpid()} {_ascii_token(record.kind, 32)} [{_SD_ID} {params}] "
    )
    return header.encode("utf-8") + json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


class SyslogSink:
    """RFC 5424 messages over TCP or TLS, octet-counted (RFC 6587), one connection kept open."""

    def __init__(self, url: str, *, ca_file: Path | None = None, connect_timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("tcp", "tls") or not parts.hostname or not parts.port:
            raise ConfigError(
                "PERSONA_MCP_SIEM_URL must be tcp://host:port or tls://host:port for the syslog sink",
                "e.g. PERSONA_MCP_SIEM_URL=tls://siem.example.com:6514",
            )
        self.name = "syslog"
        self._host, self._port = parts.hostname, parts.port
        self._tls = parts.scheme == "tls"
        self._context = _ssl_context(ca_file) if self._tls else None
        self._timeout = connect_timeout
        self._stream: anyio.abc.ByteStream | None = None
        self._hostname = socket.gethostname()

    async def _connected(self) -> anyio.abc.ByteStream:
        if self._stream is not None and await self._still_open(self._stream):
            return self._stream
        await self._drop()
        stream: anyio.abc.ByteStream
        with anyio.fail_after(self._timeout):
            if self._context is not None:
                stream = await anyio.connect_tcp(
                    self._host, self._port, ssl_context=self._context, tls_standard_compatible=False
                )
            else:
                stream = await anyio.connect_tcp(self._host, self._port)
        self._stream = stream
        return stream

    async def _still_open(self, stream: anyio.abc.ByteStream) -> bool:
        """A syslog listener never writes: data or end-of-stream now means the connection is gone."""
        try:
            with anyio.move_on_after(0.01):
                await stream.receive()
                return False
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            return False
        return True

    async def send(self, items: Sequence[Item]) -> None:
        frames = bytearray()
        for record, event in items:
            message = syslog_message(record, event, self._hostname)
            frames += f"{len(message)} ".encode() + message
        try:
            stream = await self._connected()
            with anyio.fail_after(self._timeout):
                await stream.send(bytes(frames))
        except (
            OSError,
            TimeoutError,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
            ssl.SSLError,
        ) as exc:
            await self._drop()
            raise SinkError(f"syslog sink {self._host}:{self._port} failed ({type(exc).__name__})") from None

    async def _drop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):  # gone anyway
                await stream.aclose()

    async def aclose(self) -> None:
        await self._drop()


class FileSink:
    """JSON lines (one OCSF event each) appended and fsynced, rotated past `max_bytes` (`path.1` newest)."""

    def __init__(self, path: Path, *, max_bytes: int, backups: int) -> None:
        self.name = "file"
        self._path = path
        self._max = max_bytes
        self._backups = backups

    def _rotate(self) -> None:
        for index in range(self._backups - 1, 0, -1):
            older = self._path.with_name(f"{self._path.name}.{index}")
            if older.exists():
                older.replace(self._path.with_name(f"{self._path.name}.{index + 1}"))
        self._path.replace(self._path.with_name(f"{self._path.name}.1"))

    def _write(self, lines: list[bytes]) -> None:
        """Append the lines, rotating before one would take the file past `max_bytes` (a single line
        longer than that gets a file of its own); every file written is fsynced before returning."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        size = self._path.stat().st_size if self._path.exists() else 0
        pending: list[bytes] = []
        for line in lines:
            if size and size + len(line) > self._max:
                self._append(pending)
                pending, size = [], 0
                self._rotate()
            pending.append(line)
            size += len(line)
        self._append(pending)

    def _append(self, lines: list[bytes]) -> None:
        if not lines:
            return
        fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, b"".join(lines))
            os.fsync(fd)
        finally:
            os.close(fd)

    async def send(self, items: Sequence[Item]) -> None:
        lines = [
            (json.dumps(event, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")
            for _, event in items
        ]
        try:
            await anyio.to_thread.run_sync(self._write, lines)
        except OSError as exc:
            raise SinkError(f"file sink {self._path} failed ({exc.strerror})") from None

    async def aclose(self) -> None:
        return None


def open_sink(settings: SiemSettings, *, transport: httpx2.AsyncBaseTransport | None = None) -> Sink:
    """The sink the settings name; a missing or malformed URL is a `ConfigError`."""
    if settings.sink is SiemSink.NONE:
        raise ConfigError(
            "SIEM forwarding is off", "set PERSONA_MCP_SIEM_SINK to webhook, hec, syslog or file"
        )
    if not settings.url:
        raise ConfigError(
            f"PERSONA_MCP_SIEM_SINK={settings.sink.value} needs PERSONA_MCP_SIEM_URL",
            "set PERSONA_MCP_SIEM_URL (an http(s) URL, tcp:// or tls://host:port, or a file path)",
        )
    token = settings.token.get_secret_value() if settings.token else None
    if settings.sink in (SiemSink.WEBHOOK, SiemSink.HEC):
        if urlsplit(settings.url).scheme not in ("http", "https"):
            raise ConfigError(
                f"PERSONA_MCP_SIEM_URL must be an http(s) URL for the {settings.sink.value} sink",
                "e.g. https://splunk.example.com:8088 (HEC) or https://siem.example.com/ingest",
            )
        return HttpSink(
            settings.url,
            hec=settings.sink is SiemSink.HEC,
            token=token,
            ca_file=settings.ca_file,
            transport=transport,
        )
    if settings.sink is SiemSink.SYSLOG:
        return SyslogSink(settings.url, ca_file=settings.ca_file)
    return FileSink(Path(settings.url), max_bytes=settings.file_max_bytes, backups=settings.file_backups)
