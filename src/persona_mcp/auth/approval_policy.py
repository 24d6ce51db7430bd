"""Which calls a person must sign off before they reach Persona: the approval policy.

Each tool declares a policy (`ToolSpec.approval_policy`); by default it follows from the declaration's
posture, so a tool family added later gets it without saying anything: a destructive tool, or a tool
whose scope is a `delete` or `decide` scope (redactions, approve/decline, consolidate, archive, expire,
webhook secret rotation, and the decision tools of any family), needs approval; every other tool does
not. A grant can then tighten the policy (`require_approval`: more tools) or an administrator loosen it
explicitly (`no_approval`); and while the grant's destructive-call circuit breaker is tripped, every
high-risk call needs approval whatever the grant says.

Plain functions over plain values: this module imports nothing from `tools`, so `auth` stays below it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from persona_mcp.auth.grant import Grant

#: Scope suffixes that mark an irreversible or decision action, whatever the family (`reports:decide`).
HIGH_RISK_SCOPE_SUFFIXES = frozenset({"delete", "decide"})


class ApprovalPolicy(StrEnum):
    """Whether a call of the tool must be approved by a person first."""

    REQUIRED = "required"
    NONE = "none"


def is_high_risk(effect: str, scope: str) -> bool:
    """A destructive tool, or one whose scope is a delete or decide scope: what the breaker counts."""
    return effect == "destructive" or str(scope).rsplit(":", 1)[-1] in HIGH_RISK_SCOPE_SUFFIXES


def default_policy(effect: str, scope: str) -> ApprovalPolicy:
    """The policy a declaration gets unless it names one."""
    return ApprovalPolicy.REQUIRED if is_high_risk(effect, scope) else ApprovalPolicy.NONE


@dataclass(frozen=True, slots=True)
class ApprovalRequirement:
    """Why a call needs approval (`required`), or None when it does not."""

    required: bool
    reason: str


def approval_requirement(
    grant: Grant, *, tool: str, declared: ApprovalPolicy, high_risk: bool, breaker_tripped: bool
) -> ApprovalRequirement:
    """Whether this grant's call of `tool` needs approval now, and why (the reason goes to the record).

    Order: the breaker wins over everything (an admin reset ends it), then the grant's explicit
    loosening, then its tightening, then the declaration.
    """
    if breaker_tripped and high_risk:
        return ApprovalRequirement(True, "the grant's destructive-call circuit breaker is tripped")
    if tool in grant.no_approval:
        return ApprovalRequirement(False, "the grant waives approval for this tool (--no-approval)")
    if tool in grant.require_approval:
        return ApprovalRequirement(True, "the grant requires approval for this tool")
    if declared is ApprovalPolicy.REQUIRED:
        return ApprovalRequirement(True, "the tool's declared policy requires approval")
    return ApprovalRequirement(False, "the tool's declared policy needs no approval")
