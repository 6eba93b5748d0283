"""The security headers every response carries, added by one WSGI middleware outermost.

Pages, the JSON API, ICS feeds and the two fast paths that answer before Flask
(feed_fastpath.py, rsvp_fastpath.py) all go out through `SecurityHeaders`, so this module is
the one place that decides them:

- a Content-Security-Policy that allows scripts, styles and images from our own origin only
  (no inline script or style: the templates load static/kindred.js and poll.js), forms that
  post to us only, and no framing (`frame-ancestors 'none'`, with X-Frame-Options for old
  browsers): a page of ours can never be clicked through inside someone else's;
- `X-Content-Type-Options: nosniff`: a feed or a JSON answer is never run as HTML or script;
- `Referrer-Policy: same-origin`: secret URLs (feed tokens, one-click RSVP links) never leak
  to other sites through the Referer header, while our own forms still get theirs;
- `Strict-Transport-Security` when BASE_URL is https, so browsers stop trying plain HTTP.

A response that already carries one of these headers keeps its own value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scheduler.config import Config

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        # the favicon is an empty data: URL (templates/base.html)
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# a year, as browsers' preload rules expect; subdomains are the deployer's to decide
HSTS = "max-age=31536000"

Headers = list[tuple[str, str]]


def security_headers(config: Config) -> Headers:
    """The headers every response carries under this configuration."""
    headers = [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
    ]
    if config.base_url.startswith("https://"):
        headers.append(("Strict-Transport-Security", HSTS))
    return headers


class SecurityHeaders:
    """WSGI middleware: adds `security_headers(config)` to every response of the app it wraps."""

    def __init__(self, app: Any, config: Config) -> None:
        self.app = app
        self.headers = security_headers(config)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        def start_with_headers(status: str, headers: Headers, exc_info: Any = None) -> Any:
            present = {name.lower() for name, _ in headers}
            missing = [h for h in self.headers if h[0].lower() not in present]
            return start_response(status, [*headers, *missing], exc_info)

        return self.app(environ, start_with_headers)  # type: ignore[no-any-return]
