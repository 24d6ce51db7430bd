"""The audit log: append-only, hash-chained records with signed checkpoints.

The call pipeline appends an intent before a write reaches Persona and an outcome after; denials and
admin changes are recorded too. `verify` recomputes the chain and checks the signed checkpoints.
"""

from persona_mcp.audit.admin import open_admin_sink
from persona_mcp.audit.checkpoint import Checkpoint
from persona_mcp.audit.errors import AuditError, AuditStalledError, AuditUnavailableError, KeyFileError
from persona_mcp.audit.reader import AuditLogReader
from persona_mcp.audit.record import GENESIS_HASH, AuditEvent, AuditRecord
from persona_mcp.audit.redaction import PiiDigester
from persona_mcp.audit.writer import AuditLog, Health, default_instance_id

__all__ = [
    "GENESIS_HASH",
    "AuditError",
    "AuditEvent",
    "AuditLog",
    "AuditLogReader",
    "AuditRecord",
    "AuditStalledError",
    "AuditUnavailableError",
    "Checkpoint",
    "Health",
    "KeyFileError",
    "PiiDigester",
    "default_instance_id",
    "open_admin_sink",
]
