"""Accounts: sign up, log in for a token, the caller's profile and feed URL."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from scheduler.api.auth import BEARER_AUTH, current_user
from scheduler.extensions import current_services, db_session
from scheduler.schemas.accounts import (
    FeedUrlSchema,
    MeSchema,
    ProfileArgsSchema,
    TokenArgsSchema,
    TokenSchema,
    UserArgsSchema,
    UserSchema,
)
from scheduler.schemas.common import WithExtra
from scheduler.services.accounts import identity
from scheduler.services.calendars.feed_urls import feed_urls

blp = Blueprint("accounts", __name__, url_prefix="/api/v1", description="Accounts and tokens")


def _policy() -> identity.PasswordPolicy:
    config = current_services().config
    return identity.PasswordPolicy(config.password_time_cost, config.password_memory_cost)


def _me(user: Any) -> WithExtra:
    config = current_services().config
    token = identity.current_feed_token(user, config.secret_key)
    return WithExtra(user, feed_url=feed_urls(config.base_url, token)["feed_url"])


@blp.route("/users")
class Users(MethodView):
    """Sign up."""

    @blp.arguments(UserArgsSchema)
    @blp.response(201, UserSchema)
    @blp.alt_response(409, description="The email is taken")
    def post(self, args: dict[str, Any]) -> Any:
        """Create an account."""
        session = db_session()
        user = identity.create_user(
            session, secret_key=current_services().config.secret_key, policy=_policy(), **args
        )
        session.commit()
        return user


@blp.route("/tokens")
class Tokens(MethodView):
    """Log in."""

    @blp.arguments(TokenArgsSchema)
    @blp.response(201, TokenSchema)
    @blp.alt_response(401, description="Wrong email or password")
    def post(self, args: dict[str, Any]) -> Any:
        """Exchange email and password for a bearer token."""
        session = db_session()
        user = identity.authenticate(session, policy=_policy(), **args)
        token = identity.issue_api_token(session, user)
        session.commit()
        return {"token": token}


@blp.route("/me")
class Me(MethodView):
    """The caller."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(200, MeSchema)
    def get(self) -> Any:
        """The caller's profile with the secret feed URL."""
        return _me(current_user())

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(ProfileArgsSchema)
    @blp.response(200, MeSchema)
    def patch(self, args: dict[str, Any]) -> Any:
        """Change name, time zone, interests or mail preferences."""
        session = db_session()
        user = identity.update_profile(session, current_user(), **args)
        session.commit()
        return _me(user)


@blp.route("/me/feed-token")
class FeedToken(MethodView):
    """Rotate the personal feed URL."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(200, FeedUrlSchema)
    def post(self) -> Any:
        """Issue a new feed URL; the old one answers 404 from now on."""
        session = db_session()
        config = current_services().config
        token = identity.rotate_feed_token(session, current_user(), config.secret_key)
        session.commit()
        return feed_urls(config.base_url, token)
