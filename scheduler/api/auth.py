"""Bearer-token authentication for the JSON API."""

from __future__ import annotations

from flask import request

from scheduler.domain.errors import NotAuthenticated
from scheduler.extensions import db_session
from scheduler.models import User
from scheduler.services.accounts.identity import user_for_api_token

BEARER_AUTH = [{"bearerAuth": []}]


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def current_user() -> User:
    """The user behind the request's bearer token, or 401."""
    # cached on the request, not on `g`: an app context can outlive one request
    user = request.environ.get("kindred.api_user")
    if user is not None:
        return user
    token = bearer_token(request.headers.get("Authorization", ""))
    if token is None:
        raise NotAuthenticated("Send 'Authorization: Bearer <token>' (from POST /api/v1/tokens).")
    user = user_for_api_token(db_session(), token)
    request.environ["kindred.api_user"] = user
    return user
