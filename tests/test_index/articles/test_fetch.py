"""Fetching URLs safely: a real aiohttp server on 127.0.0.1, exempted only where a test says so."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from index.articles.fetch import FetchPolicy, blocked_reason, check_url, fetch
from index.errors import FetchError

PAGE = b"<html><head><title>T</title></head><body><p>Hello</p></body></html>"


def _app() -> web.Application:
    async def page(_: web.Request) -> web.Response:
        return web.Response(body=PAGE, content_type="text/html", charset="utf-8")

    async def png(_: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG\r\n\x1a\n", content_type="image/png")

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        chunk = b"x" * 1_048_576
        try:
            for _ in range(50):  # 50 MB, never sent whole: the client stops early
                await response.write(chunk)
        except (ConnectionResetError, RuntimeError):
            pass
        return response

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(body=PAGE, content_type="text/html")

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="no")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    app = web.Application()
    app.router.add_get("/page", page)
    app.router.add_get("/png", png)
    app.router.add_get("/huge", huge)
    app.router.add_get("/slow", slow)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/redirect", redirect)
    return app


def serve(test: Callable[[str], Awaitable[None]]) -> None:
    """Run ``test(base_url)`` against the local server, on one event loop."""

    async def main() -> None:
        runner = web.AppRunner(_app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            await test(f"http://127.0.0.1:{port}")
        finally:
            await runner.cleanup()

    asyncio.run(main())


EXEMPT = FetchPolicy(timeout=2.0, max_bytes=1_000_000, allow_hosts=frozenset({"127.0.0.1"}))


def test_fetches_an_exempted_local_page() -> None:
    """A page on an exempted host comes back with its type and body."""

    async def check(base: str) -> None:
        got = await fetch(f"{base}/page", EXEMPT)
        assert (got.kind, got.body, got.charset) == ("html", PAGE, "utf-8")

    serve(check)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/status/404", "answered 404"),
        ("/status/500", "answered 500"),
        ("/png", "image/png; citebot reads web pages"),
        ("/huge", "larger than 1 MB"),
        ("/slow", "timed out after 2 s"),
        ("/redirect?to=http://10.0.0.1/", "10.0.0.1 is a private address"),
        ("/redirect?to=http://169.254.169.254/latest/", "169.254.169.254 is a link-local"),
        ("/redirect?to=ftp://example.org/", "only http and https"),
    ],
)
def test_bad_responses_and_hostile_redirects_are_refused(path: str, message: str) -> None:
    """Errors, wrong types, huge bodies, slow servers and redirects inward are refused."""

    async def check(base: str) -> None:
        with pytest.raises(FetchError, match=message.replace("?", r"\?")):
            await fetch(f"{base}{path}", EXEMPT)

    serve(check)


def test_local_server_is_refused_without_the_exemption() -> None:
    """The same server, not exempted, is refused before anything is sent."""

    async def check(base: str) -> None:
        with pytest.raises(FetchError, match=r"127\.0\.0\.1 is a loopback address"):
            await fetch(f"{base}/page", FetchPolicy(timeout=2.0))

    serve(check)


def test_a_name_resolving_to_loopback_is_refused_at_connect() -> None:
    """A DNS name whose address is loopback is refused by the resolver the client uses."""
    name = socket.gethostname()
    address = socket.getaddrinfo(name, 80)[0][4][0]
    if blocked_reason(address) is None:
        pytest.skip(f"{name} resolves to a public address here")

    async def check(base: str) -> None:
        port = base.rsplit(":", 1)[1]
        with pytest.raises(FetchError, match=f"{name} resolves to a loopback address"):
            await fetch(f"http://{name}:{port}/page", FetchPolicy(timeout=2.0))

    serve(check)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "not file"),
        ("javascript:alert(1)", "not javascript"),
        ("ftp://example.org/a", "not ftp"),
        ("http://localhost/", "localhost is a loopback host"),
        ("http://10.0.0.1/", "private address"),
        ("http://169.254.169.254/", "link-local address"),
        ("http://[::1]/", "loopback address"),
        ("http://[::ffff:127.0.0.1]/", "loopback address"),
        ("http://224.0.0.1/", "multicast address"),
        ("http://0.0.0.0/", "unspecified address"),
        ("http:///nohost", "no host"),
    ],
)
def test_urls_refused_before_any_connection(url: str, message: str) -> None:
    """Schemes other than http(s), loopback names and non-public literals are refused."""
    with pytest.raises(FetchError, match=message):
        check_url(url, FetchPolicy())


def test_public_names_and_addresses_pass_the_url_check() -> None:
    """A public literal or a name passes (names are checked again when resolved)."""
    assert check_url("https://93.184.215.14/x", FetchPolicy()) == "93.184.215.14"
    assert check_url("https://example.org/a", FetchPolicy()) == "example.org"
