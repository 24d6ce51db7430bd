"""Whether one upstream attempt may have changed something in Persona.

A logical call may take several attempts, and only the whole history tells whether repeating the call is
safe: an attempt whose answer was lost may have created an account even if the last attempt got a clean
429. So every attempt is classified here, once, and the client folds the answers into one
`maybe_applied` flag. The rule leans one way on purpose: an attempt counts as "not applied" only when its
failure *proves* Persona never processed it; everything else counts as possibly applied.

Proof that nothing was processed:

- the request never left this process or never got a connection (`ConnectError`, `ConnectTimeout`,
  `PoolTimeout`, `UnsupportedProtocol`, and `LocalProtocolError`, which the connection pool raises
  before any byte of the request is written, and httpx2's own transports before the offending bytes are,
  so Persona can at most have seen an incomplete request, which it cannot act on);
- any 4xx answer: Persona rejected the request (validation, authentication, rate limit, conflict, not
  found) instead of carrying it out.

Possibly processed: a 2xx (it was), a 5xx (Persona may have failed after or while applying it), any other
status, and every transport failure after the request may have been sent (`ReadError`, `ReadTimeout`,
`WriteError`, `WriteTimeout`, `RemoteProtocolError`, `ProxyError`, and anything unknown).
"""

from __future__ import annotations

import httpx2

#: Transport failures that prove the request was never processed by Persona (see the module docstring).
NOT_SENT_ERRORS: tuple[type[httpx2.TransportError], ...] = (
    httpx2.ConnectError,
    httpx2.ConnectTimeout,
    httpx2.PoolTimeout,
    httpx2.UnsupportedProtocol,
    httpx2.LocalProtocolError,
)


def answer_may_have_applied(status: int) -> bool:
    """Whether a request that got HTTP `status` may have been carried out (only a 4xx proves it was not)."""
    return not 400 <= status <= 499


def failure_may_have_applied(error: httpx2.TransportError) -> bool:
    """Whether a request that ended in this transport error may have been carried out."""
    return not isinstance(error, NOT_SENT_ERRORS)


def status_may_have_applied(status: int | None, *, attempts: int) -> bool:
    """The best guess from a final status alone, when no attempt history is at hand.

    `status` None means no answer: with no attempt made nothing was sent, otherwise the request may have
    been sent. Errors built by the client carry the exact value from every attempt instead of this guess.
    """
    if attempts <= 0:
        return False
    return status is None or answer_may_have_applied(status)


__all__ = [
    "NOT_SENT_ERRORS",
    "answer_may_have_applied",
    "failure_may_have_applied",
    "status_may_have_applied",
]
