"""Public URLs of calendar feeds."""

from __future__ import annotations


def feed_urls(base_url: str, token: str) -> dict[str, str]:
    """The personal feed as an https/http URL and as a webcal:// subscribe link."""
    feed_url = f"{base_url}/feeds/{token}.ics"
    return {"feed_url": feed_url, "webcal_url": webcal(feed_url)}


def webcal(url: str) -> str:
    """The webcal:// form of a feed URL (what calendar apps subscribe to)."""
    return "webcal://" + url.split("://", 1)[-1]
