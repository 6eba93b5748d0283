"""Fetching a calendar URL someone gave us, without letting them aim Kindred at our network.

Only http and https. The host is resolved once per hop and every address it resolves to must
be public (not loopback, private, link-local, multicast, reserved or unspecified) unless
CALENDAR_FETCH_ALLOW_PRIVATE=true; the connection then goes to that checked address (so a DNS
answer cannot change between the check and the connect), with the name in Host and in TLS's
SNI and certificate check. Redirects (at most 5) are checked the same way. The body is read
in chunks and cut off past `max_bytes` or once `timeout` seconds have passed in all.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from scheduler.domain.errors import InvalidInput

MAX_REDIRECTS = 5
CHUNK = 64 * 1024
USER_AGENT = "Kindred calendar reader (busy times only)"


class FetchRefused(InvalidInput):
    """The URL may not be fetched (scheme, address) or the answer broke a limit; the message
    is shown to the calendar's owner (a 422 naming `url` when they add it)."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message, field="url", **params)


@dataclass(frozen=True)
class Fetched:
    """A calendar's answer: 304 (unchanged since `etag`) or 200 with its body."""

    status: int
    body: bytes
    etag: str | None


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, or FetchRefused naming what is wrong."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchRefused("This is not a URL.") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchRefused("Only http and https calendar URLs can be read.")
    if not parts.hostname:
        raise FetchRefused("The URL has no host.")
    if parts.username or parts.password:
        raise FetchRefused("URLs with a user name or password are not read.")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int, *, allow_private: bool) -> str:
    """One address to connect to; every address of the host must be allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchRefused("The host %(host)s does not resolve.", host=host) from exc
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise FetchRefused("The host %(host)s does not resolve.", host=host)
    if not allow_private:
        for address in addresses:
            if not _public(address):
                raise FetchRefused(
                    "%(host)s is a private, loopback or link-local address (%(address)s).",
                    host=host,
                    address=address,
                )
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def fetch(
    url: str,
    *,
    etag: str | None,
    max_bytes: int,
    timeout: float,
    allow_private: bool,
) -> Fetched:
    """GET the URL (conditional on `etag`), following checked redirects, within the caps."""
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        scheme, host, port = check_url(url)
        address = resolve(host, port, allow_private=allow_private)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchRefused("No answer within %(seconds)s s.", seconds=f"{timeout:g}")
        kind = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
        connection = kind(host, port, address, timeout=min(remaining, timeout))
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"User-Agent": USER_AGENT, "Accept": "text/calendar, */*;q=0.5"}
        headers["Accept-Encoding"] = "identity"
        if etag:
            headers["If-None-Match"] = etag
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise FetchRefused(
                        "A redirect (%(status)s) without a Location.", status=response.status
                    )
                url = urljoin(url, location)
                continue
            if response.status == 304:
                return Fetched(304, b"", etag)
            if response.status != 200:
                raise FetchRefused("The server answered %(status)s.", status=response.status)
            declared = response.getheader("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchRefused("The calendar is larger than %(limit)s bytes.", limit=max_bytes)
            body = bytearray()
            while True:
                if time.monotonic() > deadline:
                    raise FetchRefused(
                        "The calendar did not arrive within %(seconds)s s.", seconds=f"{timeout:g}"
                    )
                if connection.sock is not None:
                    connection.sock.settimeout(max(0.05, deadline - time.monotonic()))
                chunk = response.read1(CHUNK)
                if not chunk:
                    break
                body += chunk
                if len(body) > max_bytes:
                    raise FetchRefused(
                        "The calendar is larger than %(limit)s bytes.", limit=max_bytes
                    )
            return Fetched(200, bytes(body), response.getheader("ETag"))
        except (OSError, http.client.HTTPException) as exc:
            raise FetchRefused(
                "Could not fetch the calendar (%(reason)s).", reason=type(exc).__name__
            ) from exc
        finally:
            connection.close()
    raise FetchRefused("More than %(count)s redirects.", count=MAX_REDIRECTS)
