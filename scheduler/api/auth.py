"""Bearer-token authentication for the JSON API."""

from __future__ import annotations

from flask import request

from scheduler.domain.errors import NotAuthenticated
from scheduler.extensions import db_session
from scheduler.models import User
from scheduler.services.accounts.identity import user_for_api_token

BEARER_AUTH = [{"bearerAuth": []}]


def current_user() -> User:
    """The user behind the request's bearer token, or 401."""
    # cached on the request, not on `g`: an app context can outlive one request
    user = request.environ.get("kindred.api_user")
    if user is not None:
        return user
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("Send 'Authorization: Bearer <token>' (from POST /api/v1/tokens).")
    user = user_for_api_token(db_session(), token.strip())
    request.environ["kindred.api_user"] = user
    return user
