"""A tool is a frozen value: the single declaration that listing, policy, audit and docs all read.

`scope` and `effect` have no defaults, so a spec that forgets its posture does not type-check. The MCP
annotations are derived from `effect` and never written by hand.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from persona_mcp.auth.approval_policy import ApprovalPolicy, default_policy, is_high_risk
from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.client import PersonaClient
from persona_mcp.persona.ids import ObjectKind
from persona_mcp.tools.saved_files import OwnedFiles


class Effect(StrEnum):
    """What a tool does to Persona: the catalogue's `effect`."""

    READ = "read"
    WRITE = "write"
    DESTRUCTIVE = "destructive"


class Activity(StrEnum):
    """What a call does to the Persona object it names, in the create/read/update/delete terms of audit
    exports (OCSF API Activity). One per tool, so every record of a call says the same, whatever the
    HTTP method of the request that carried it (an approval is a POST, and it creates nothing)."""

    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Annotations:
    """MCP tool annotations, derived from the effect."""

    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool = True

    @classmethod
    def for_effect(
        cls, effect: Effect, *, idempotent: bool | None = None, open_world: bool = True
    ) -> Annotations:
        """Hints from the declaration: the effect, and whether the tool reaches Persona at all."""
        if effect is Effect.READ:
            return cls(read_only=True, destructive=False, idempotent=True, open_world=open_world)
        return cls(
            read_only=False,
            destructive=effect is Effect.DESTRUCTIVE,
            idempotent=bool(idempotent),
            open_world=open_world,
        )


#: Reports progress of a long call: (progress, total, message). MCP sends it only when the client asked.
Progress = Callable[[float, float | None, str | None], Awaitable[None]]


@dataclass(slots=True)
class ToolContext:
    """What a handler may use: a Persona client bound to the caller's environment and credential.

    `idempotency_key` is chosen by the call pipeline before the intent record is written, so the key
    in the audit log is the key Persona sees, on every retry.
    """

    persona: PersonaClient
    idempotency_key: str | None
    data_dir: Path
    touched_ids: list[str] = field(default_factory=list)

    def touch(self, *ids: str | None) -> None:
        """Record Persona object ids this call read or changed (they go into the outcome record)."""
        self.touched_ids.extend(i for i in ids if i)

    #: Set by the server for the reviewer tools (toolset "audit"); None elsewhere.
    audit: Any = None
    #: Where a tool saves a file it returns as an MCP resource, bound to the caller by the server.
    files: OwnedFiles | None = None
    #: The request's progress reporter, set by the server (None outside a tools/call request).
    progress: Progress | None = None
    #: The local event store in the caller's environment (`events.store.EnvironmentEvents`), when the
    #: server has one; the event tools read it besides Persona.
    events: Any = None


InputT = TypeVar("InputT", bound=BaseModel)
OutputT = TypeVar("OutputT", bound=BaseModel)

Handler = Callable[[ToolContext, Any], Awaitable[BaseModel]]


@dataclass(frozen=True, slots=True)
class ToolSpec(Generic[InputT, OutputT]):
    """One MCP tool: name, posture, models, upstream operations, handler."""

    name: str
    toolset: str
    title: str
    description: str
    scope: Scope
    effect: Effect
    input_model: type[InputT]
    output_model: type[OutputT]
    operations: tuple[str, ...]
    handler: Callable[[ToolContext, InputT], Awaitable[OutputT]]
    idempotent: bool | None = None
    #: The kind of Persona object this tool finds (set on list/search tools): recovery hints name it.
    finds: ObjectKind | None = None
    #: Persona serves it only with a sandbox API key (the catalogue's `sandbox_only`); failures say so.
    sandbox_only: bool = False
    #: What Persona's state rules say when it answers 409 to this tool (PROTOCOL.md sections 7 and 14).
    conflict_hint: str | None = None
    #: Its result carries personal data that masking cannot reach (a PDF): callers also need pii:read.
    unmaskable: bool = False
    #: Declared where the effect does not tell: a tool that makes a new object (CREATE) or removes one
    #: (DELETE). Otherwise it follows from the effect: read tools READ, every other tool UPDATE.
    activity: Activity | None = None
    #: Operations it repeats on behalf of another tool (`wait_for_*` re-reading `get_*`'s object): they
    #: reach Persona, but coverage counts them for the tool that owns them.
    polls: tuple[str, ...] = ()
    #: Whether a person must approve each call first. Unset, it follows from the posture
    #: (`auth.approval_policy.default_policy`): destructive tools and delete/decide scopes need approval.
    approval: ApprovalPolicy | None = None

    @property
    def approval_policy(self) -> ApprovalPolicy:
        """The declared approval policy: explicit, or derived from effect and scope."""
        if self.approval is not None:
            return self.approval
        return default_policy(self.effect.value, self.scope.value)

    @property
    def high_risk(self) -> bool:
        """Destructive or a decision: what the destructive-call circuit breaker counts."""
        return is_high_risk(self.effect.value, self.scope.value)

    @property
    def api_activity(self) -> Activity:
        """The one activity audit exports give every record of this tool's calls."""
        if self.activity is not None:
            return self.activity
        return Activity.READ if self.effect is Effect.READ else Activity.UPDATE

    @property
    def annotations(self) -> Annotations:
        # A tool that covers no upstream operation (the audit reviewer tools) stays inside this server.
        return Annotations.for_effect(
            self.effect, idempotent=self.idempotent, open_world=self.reaches_persona
        )

    @property
    def reaches_persona(self) -> bool:
        """Whether a call sends requests to Persona (and so needs the caller's upstream credential)."""
        return bool(self.operations or self.polls)

    @property
    def is_write(self) -> bool:
        return self.effect is not Effect.READ
