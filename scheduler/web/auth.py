"""Session-cookie login for the pages, and CSRF protection for every form they post.

The session cookie is signed by Flask (SECRET_KEY), so what it holds cannot be forged: the
user id, a random session token and a random per-session CSRF secret. The session itself
lives on the server (accounts.sessions): the cookie signs someone in only while its row
exists, so logging out, "sign out everywhere" and a password change end it for good, copies
of the cookie included. Every unsafe request to a protected blueprint must echo the CSRF
secret in a `csrf_token` form field or an `X-CSRF-Token` header; a cross-site form cannot
read it. Logging in starts a fresh session (no session fixation).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, g, redirect, request, session, url_for
from flask_babel import lazy_gettext
from werkzeug.exceptions import BadRequest

from scheduler.extensions import db_session
from scheduler.models import User, utcnow
from scheduler.services.accounts import links, sessions

F = TypeVar("F", bound=Callable[..., Any])

USER_KEY = "uid"
SESSION_KEY = "sid"
CSRF_KEY = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfFailed(BadRequest):
    """The form did not carry this session's CSRF token."""

    description = lazy_gettext(
        "This form has expired or did not come from Kindred. Go back, reload the page and try "
        "again."
    )


def page_user() -> User | None:
    """The signed-in user of this request, or None."""
    if "page_user" in g:
        return g.page_user  # type: ignore[no-any-return]
    user = None
    user_id = session.get(USER_KEY)
    token = session.get(SESSION_KEY)
    if isinstance(user_id, int):
        if isinstance(token, str):
            user = sessions.user_for_session(db_session(), user_id, token, now=utcnow())
        if user is None:  # signed out elsewhere, or the account is gone: forget the cookie
            session.pop(USER_KEY, None)
            session.pop(SESSION_KEY, None)
    g.page_user = user
    return user


def session_token() -> str | None:
    """This browser's server-side session token, if it is signed in."""
    token = session.get(SESSION_KEY)
    return token if isinstance(token, str) else None


def log_in(user: User) -> None:
    """Start a fresh session for `user` (a new CSRF secret too), recorded on the server."""
    db = db_session()
    token = sessions.start_session(
        db, user, now=utcnow(), user_agent=request.headers.get("User-Agent", "")
    )
    db.commit()
    session.clear()
    session[USER_KEY] = user.id
    session[SESSION_KEY] = token
    session[CSRF_KEY] = secrets.token_urlsafe(32)
    session.permanent = True
    g.page_user = user


def log_out() -> None:
    """End this browser's session on the server and forget the cookie's contents."""
    token = session_token()
    if token is not None:
        db = db_session()
        sessions.end_session(db, token)
        db.commit()
    session.clear()
    g.page_user = None


def csrf_token() -> str:
    """This session's CSRF token (created on first use, also for signed-out visitors)."""
    token = session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_KEY] = token
    return token


def check_csrf() -> None:
    """Reject an unsafe request that does not carry this session's CSRF token."""
    if request.method not in UNSAFE_METHODS:
        return
    expected = session.get(CSRF_KEY)
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, sent):
        raise CsrfFailed()


def protect(bp: Blueprint) -> Blueprint:
    """Require the CSRF token on every unsafe request to this blueprint's views."""
    bp.before_request(check_csrf)
    return bp


def safe_next(target: str | None) -> str:
    """A path on this site to go to after logging in, else the start page (the rule:
    accounts.links.local_path)."""
    return links.local_path(target) or url_for("pages.home")


def login_required(view: F) -> F:
    """Send signed-out visitors to the log-in page, and back here afterwards."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if page_user() is None:
            target = request.full_path.rstrip("?") if request.method == "GET" else request.referrer
            return redirect(url_for("pages.login", next=safe_next(target)))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def require_user() -> User:
    """The signed-in user (call only behind @login_required)."""
    user = page_user()
    assert user is not None
    return user
