"""Fetching an article by URL without letting a hostile URL reach the host's network.

Rules, each enforced on the first request and on every redirect:

* only ``http`` and ``https``;
* the host must resolve only to public addresses: loopback, private, link-local,
  multicast, reserved and unspecified addresses are refused. The check lives in
  the resolver that the HTTP client connects through, so the address checked is
  the address connected to (no DNS-rebinding gap); the connected peer is
  checked once more after the response arrives;
* hosts listed in ``ingest.allow_hosts`` or ``CITEBOT_ALLOW_HOSTS`` are exempt
  (tests and self-hosting);
* a timeout, a cap on redirects and a cap on size (the body is streamed and cut
  off, never read whole), and a content-type check.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from index.errors import FetchError

log = logging.getLogger(__name__)

ACCEPTED_TYPES = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/plain": "text",
    "text/markdown": "markdown",
    "application/pdf": "pdf",
}



@dataclass(frozen=True)
class FetchPolicy:
    """Limits for one fetch."""

    timeout: float = 15.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    allow_hosts: frozenset[str] = frozenset()

    def allows(self, host: str) -> bool:
        """Whether ``host`` is exempt from the address rules."""
        return host.lower().strip("[]") in self.allow_hosts


@dataclass(frozen=True)
class Fetched:
    """A fetched body with what is needed to read it."""

    url: str
    kind: str
    content_type: str
    charset: str | None
    body: bytes


def blocked_reason(address: str) -> str | None:
    """Why an IP address must not be contacted, or None when it is public."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    # Most specific first: Python also counts link-local and 0.0.0.0 as "private".
    for name in ("loopback", "link_local", "unspecified", "multicast", "reserved", "private"):
        if getattr(ip, f"is_{name}"):
            return name.replace("_", "-")
    if not ip.is_global:
        return "non-public"
    return None


class _GuardedResolver(AbstractResolver):
    """Resolves names, then refuses any answer that includes a non-public address."""

    def __init__(self, policy: FetchPolicy) -> None:
        self._policy = policy
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        if not self._policy.allows(host):
            for answer in answers:
                reason = blocked_reason(answer["host"])
                if reason:
                    raise FetchError(
                        f"refused: {host} resolves to a {reason} address ({answer['host']})"
                    )
        return answers

    async def close(self) -> None:
        await self._inner.close()


def check_url(url: str, policy: FetchPolicy) -> str:
    """Validate a URL's scheme and, for a literal address, the address itself.

    Returns:
        The host name.

    Raises:
        FetchError: the scheme is not http(s), the URL has no host, or the host
            is a non-public IP literal that is not exempt.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise FetchError(f"not a valid URL: {url[:200]!r}") from None
    if parts.scheme.lower() not in ("http", "https"):
        scheme = parts.scheme or "no scheme"
        raise FetchError(f"refused: only http and https URLs can be added, not {scheme}")
    host = (parts.hostname or "").lower()
    if not host:
        raise FetchError(f"not a valid URL (no host): {url[:200]!r}")
    if policy.allows(host):
        return host
    if host == "localhost" or host.endswith(".localhost"):
        raise FetchError(f"refused: {host} is a loopback host")
    try:
        reason = blocked_reason(host)
    except ValueError:
        return host  # a name: the resolver checks what it resolves to
    if reason:
        raise FetchError(f"refused: {host} is a {reason} address")
    return host


async def fetch(url: str, policy: FetchPolicy) -> Fetched:
    """Fetch ``url`` under ``policy``, following redirects by hand so each hop is checked.

    Raises:
        FetchError: any rule refuses the URL, the server answers with an error,
            times out, sends too much or sends a type that cannot be read.
    """
    timeout = aiohttp.ClientTimeout(total=policy.timeout)
    connector = aiohttp.TCPConnector(resolver=_GuardedResolver(policy), use_dns_cache=False)
    headers = {"User-Agent": "citebot/0.1 (+article ingestion)", "Accept": _ACCEPT}
    async with aiohttp.ClientSession(
        timeout=timeout, connector=connector, headers=headers, trust_env=False
    ) as session:
        current = url.strip()
        for _ in range(policy.max_redirects + 1):
            host = check_url(current, policy)
            try:
                async with session.get(current, allow_redirects=False) as response:
                    _check_peer(response, host, policy)
                    if response.status in (301, 302, 303, 307, 308):
                        location = response.headers.get("Location")
                        if not location:
                            raise FetchError(f"{current} redirects without a Location")
                        current = urljoin(current, location)
                        continue
                    return await _read(response, current, policy)
            except FetchError:
                raise
            except TimeoutError:
                raise FetchError(
                    f"timed out after {policy.timeout:g} s fetching {current}"
                ) from None
            except aiohttp.ClientConnectorError as exc:
                cause = exc.__cause__ or exc.__context__
                if isinstance(cause, FetchError):
                    raise cause from None
                raise FetchError(f"cannot connect to {host}: {exc.os_error}") from None
            except aiohttp.ClientError as exc:
                raise FetchError(f"fetching {current} failed: {exc}") from None
        raise FetchError(f"too many redirects (more than {policy.max_redirects}) from {url}")


_ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,application/pdf;q=0.8"


def _check_peer(response: aiohttp.ClientResponse, host: str, policy: FetchPolicy) -> None:
    """Refuse a response whose connected peer is not public (defence in depth)."""
    if policy.allows(host) or response.connection is None:
        return
    transport = response.connection.transport
    peer: Any = transport.get_extra_info("peername") if transport else None
    if peer:
        reason = blocked_reason(str(peer[0]))
        if reason:
            raise FetchError(f"refused: {host} connected to a {reason} address ({peer[0]})")


async def _read(response: aiohttp.ClientResponse, url: str, policy: FetchPolicy) -> Fetched:
    if response.status >= 400:
        reason = response.reason or "error"
        raise FetchError(f"the server answered {response.status} {reason} for {url}")
    content_type = response.content_type.lower()
    kind = ACCEPTED_TYPES.get(content_type)
    if kind is None:
        raise FetchError(
            f"{url} is {content_type or 'of no stated type'}; citebot reads web pages, "
            "plain text and PDF"
        )
    declared = response.content_length
    if declared is not None and declared > policy.max_bytes:
        raise FetchError(_too_big(url, policy))
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(65_536):
        size += len(chunk)
        if size > policy.max_bytes:
            raise FetchError(_too_big(url, policy))
        chunks.append(chunk)
    return Fetched(str(response.url), kind, content_type, response.charset, b"".join(chunks))


def _too_big(url: str, policy: FetchPolicy) -> str:
    return f"{url} is larger than {policy.max_bytes / 1_000_000:g} MB; citebot does not add it"


def policy_from(allow: Collection[str], timeout: float, max_bytes: int, redirects: int
                ) -> FetchPolicy:
    """A policy from settings values (host names are compared lower-case)."""
    return FetchPolicy(timeout, max_bytes, redirects,
                       frozenset(h.strip().lower() for h in allow if h.strip()))
