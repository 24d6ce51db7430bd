"""Continuous forwarding of audit records to a SIEM, as OCSF JSON, at least once, from a durable cursor.

`Forwarder` reads records after its cursor (table `siem_cursors`), hands them to a sink, and moves the
cursor only once the sink has accepted them: a restart, a crash or a sink outage resumes where delivery
stopped and never skips a record (a batch cut short is sent again). The forwarder only reads the audit
log; tool calls never wait for it, so a sink that is down delays forwarding, never a call.
"""

from persona_mcp.audit.forwarding.cursor import CursorStore
from persona_mcp.audit.forwarding.forwarder import Forwarder, ForwarderState
from persona_mcp.audit.forwarding.sinks import Sink, SinkError, open_sink

__all__ = ["CursorStore", "Forwarder", "ForwarderState", "Sink", "SinkError", "open_sink"]
