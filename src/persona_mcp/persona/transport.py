"""The connection to Persona: `persona.http1`'s keep-alive pool behind httpx2's transport interface.

`PersonaClient` talks to one origin, sends its own headers, never follows redirects and never keeps cookies,
so `httpx2.AsyncClient`'s layers (URL and header merging, auth and redirect loops, cookie jar, streamed
response wrappers) and httpcore2's general-purpose pool are work done on every request for nothing.
Measured against the sandbox on this project's 2-core machine, a GET cost ~350 us of CPU through
`httpx2.AsyncClient`, ~240-320 us through httpcore2's pool, and ~65-100 us through this transport
(benchmarks/README.md, "the connection to Persona"): on a server whose one interpreter is the
bottleneck under load, that is throughput.

`PersonaClient` keeps httpx2's `Request` and `Response` as its interface, so any httpx2 transport still
fits (tests hand it the sandbox's ASGI transport or a mock). This one, the default, reads the whole body
before returning (every Persona answer is read in full anyway) and fails with httpx2's errors, the types
`persona.attempts` judges ("may this attempt have been applied?").

A proxy named by the environment (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`, as `urllib` reads them) gets
httpx2's own proxy transport instead: proxies are rare here and their handling is best left whole.
"""

from __future__ import annotations

import ssl
import urllib.request

import httpx2

from persona_mcp.persona.http1 import ConnectionPool, Timeouts


class PersonaTransport(httpx2.AsyncBaseTransport):
    """httpx2's transport interface over one `ConnectionPool`; answers come back fully read."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._pool = ConnectionPool(ssl_context=ssl_context)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        answer = await self._pool.request(
            request.method.encode("ascii"),
            request.url,
            request.headers.raw,
            await request.aread(),
            Timeouts.of(request.extensions),
        )
        return httpx2.Response(answer.status, headers=answer.headers, content=answer.body, request=request)

    async def aclose(self) -> None:
        await self._pool.aclose()


def persona_transport(base_url: str) -> httpx2.AsyncBaseTransport:
    """The transport for `base_url`: httpx2's proxy transport if the environment names a proxy for it,
    else `PersonaTransport`."""
    url = httpx2.URL(base_url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(url.host):
        return httpx2.AsyncHTTPTransport(proxy=proxy)
    return PersonaTransport()
