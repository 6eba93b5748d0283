"""Accounts: sign up, log in for a token, mailed links, the caller's profile, tokens and
data."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.views import MethodView
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_smorest import Blueprint

from scheduler.api.auth import BEARER_AUTH, current_user
from scheduler.domain.language import negotiate_locale
from scheduler.extensions import current_services, db_session
from scheduler.models import utcnow
from scheduler.schemas.accounts import (
    AcceptedSchema,
    ApiTokenSchema,
    EmailArgsSchema,
    EmailChangeArgsSchema,
    EmailLinkArgsSchema,
    FeedUrlSchema,
    MeSchema,
    PasswordArgsSchema,
    PasswordChangeArgsSchema,
    ProfileArgsSchema,
    SignUpPendingSchema,
    TokenArgsSchema,
    TokenSchema,
    UserArgsSchema,
    UserSchema,
)
from scheduler.schemas.common import WithExtra
from scheduler.services.accounts import identity, recovery
from scheduler.services.calendars.feed_urls import feed_urls
from scheduler.services.self_service import account_links, your_data

blp = Blueprint("accounts", __name__, url_prefix="/api/v1", description="Accounts and tokens")


def _policy() -> identity.PasswordPolicy:
    config = current_services().config
    return identity.PasswordPolicy(config.password_time_cost, config.password_memory_cost)


def _me(user: Any) -> WithExtra:
    config = current_services().config
    token = identity.current_feed_token(user, config.secret_key)
    return WithExtra(
        user,
        feed_url=feed_urls(config.base_url, token)["feed_url"],
        has_password=identity.has_password(user),
    )


ACCEPTED = lazy_gettext(
    "If an account has this address, a mail with a link is on its way. The link works once."
)


@blp.route("/users")
class Users(MethodView):
    """Sign up."""

    @blp.arguments(UserArgsSchema)
    @blp.response(201, UserSchema)
    @blp.alt_response(
        202,
        schema=SignUpPendingSchema,
        description="An account nobody confirmed holds the address: its owner was mailed a "
        "link that takes it over",
    )
    @blp.alt_response(409, description="The email is taken")
    def post(self, args: dict[str, Any]) -> Any:
        """Create an account; a `verify` mail goes to the address, and nothing else does
        until its link is followed."""
        session = db_session()
        if args.get("locale") is None:
            args["locale"] = negotiate_locale(request.headers.get("Accept-Language"))
        outcome = account_links.sign_up(session, current_services().config, now=utcnow(), **args)
        session.commit()
        if outcome.user is None:
            response = jsonify(
                SignUpPendingSchema().dump(
                    {
                        "email": outcome.email,
                        "email_verified": False,
                        "message": _(
                            "An account waiting to be confirmed has this address: "
                            "we mailed it a link that signs its owner in."
                        ),
                    }
                )
            )
            response.status_code = 202
            return response
        return outcome.user


@blp.route("/tokens")
class Tokens(MethodView):
    """Log in."""

    @blp.arguments(TokenArgsSchema)
    @blp.response(201, TokenSchema)
    @blp.alt_response(401, description="Wrong email or password")
    def post(self, args: dict[str, Any]) -> Any:
        """Exchange email and password for a bearer token."""
        session = db_session()
        user = identity.authenticate(
            session, email=args["email"], password=args["password"], policy=_policy()
        )
        token = identity.issue_api_token(
            session, user, label=args["label"], expires_at=args["expires_at"]
        )
        session.commit()
        return {"token": token}


@blp.route("/auth/email-link")
class EmailLink(MethodView):
    """Sign in by mail."""

    @blp.arguments(EmailLinkArgsSchema)
    @blp.response(202, AcceptedSchema)
    def post(self, args: dict[str, Any]) -> Any:
        """Mail a one-time sign-in link (202 whether an account has the address or not)."""
        session = db_session()
        account_links.request_sign_in_link(
            session, current_services().config, args["email"], now=utcnow(), next_path=args["next"]
        )
        session.commit()
        return {"message": str(ACCEPTED)}


@blp.route("/auth/password-reset")
class PasswordReset(MethodView):
    """Forgotten passwords."""

    @blp.arguments(EmailArgsSchema)
    @blp.response(202, AcceptedSchema)
    def post(self, args: dict[str, Any]) -> Any:
        """Mail a one-time password-reset link (202 whether an account has it or not)."""
        session = db_session()
        account_links.request_password_reset(
            session, current_services().config, args["email"], now=utcnow()
        )
        session.commit()
        return {"message": str(ACCEPTED)}


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
        """Change name, time zone, language, interests or mail preferences."""
        session = db_session()
        user = identity.update_profile(session, current_user(), **args)
        session.commit()
        return _me(user)

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(PasswordArgsSchema)
    @blp.response(204)
    @blp.alt_response(403, description="Wrong password")
    def delete(self, args: dict[str, Any]) -> None:
        """Erase the account: seats freed (waitlists promoted), name and address gone."""
        session = db_session()
        your_data.erase(
            session, current_user(), password=args["password"], policy=_policy(), now=utcnow()
        )
        session.commit()


@blp.route("/me/export")
class MyData(MethodView):
    """Everything stored about the caller."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(200)
    def get(self) -> Any:
        """Profile, interests, groups, RSVPs, availability, mail sent to them, tokens,
        sessions, as JSON."""
        response = jsonify(your_data.export(db_session(), current_user()))
        response.headers["Content-Disposition"] = 'attachment; filename="kindred-export.json"'
        response.headers["Cache-Control"] = "no-store"
        return response


@blp.route("/me/tokens")
class MyTokens(MethodView):
    """The caller's API tokens."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(200, ApiTokenSchema(many=True))
    def get(self) -> Any:
        """Every token: label, created_at, last_used_at, expires_at (never the secret)."""
        return identity.list_api_tokens(db_session(), current_user())


@blp.route("/me/tokens/<int:token_id>")
class MyTokenById(MethodView):
    """One of the caller's API tokens."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(204)
    @blp.alt_response(404, description="Not one of the caller's tokens")
    def delete(self, token_id: int) -> None:
        """Revoke it: it answers 401 from then on."""
        session = db_session()
        identity.revoke_api_token(session, current_user(), token_id)
        session.commit()


@blp.route("/me/verify-email")
class VerifyEmailAgain(MethodView):
    """Send the verify link again."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(202, AcceptedSchema)
    @blp.alt_response(409, description="The address is confirmed already")
    def post(self) -> Any:
        """Mail a new verify link to the caller's address."""
        session = db_session()
        account_links.resend_verification(
            session, current_services().config, current_user(), now=utcnow()
        )
        session.commit()
        return {"message": _("A new link is on its way.")}


@blp.route("/me/email")
class MyEmail(MethodView):
    """Change of address."""

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(EmailChangeArgsSchema)
    @blp.response(202, AcceptedSchema)
    @blp.alt_response(403, description="Wrong password")
    @blp.alt_response(409, description="Another account uses the address")
    def post(self, args: dict[str, Any]) -> Any:
        """Mail a confirm link to the new address; the account moves once it is followed."""
        session = db_session()
        account_links.request_email_change(
            session, current_services().config, current_user(), now=utcnow(), **args
        )
        session.commit()
        return {"message": _("Follow the link mailed to the new address to start using it.")}


@blp.route("/me/password")
class MyPassword(MethodView):
    """Change of password."""

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(PasswordChangeArgsSchema)
    @blp.response(204)
    @blp.alt_response(403, description="Wrong current password")
    def post(self, args: dict[str, Any]) -> None:
        """Change the password; every signed-in browser is signed out."""
        session = db_session()
        recovery.change_password(
            session,
            current_user(),
            current=args["current_password"],
            new=args["new_password"],
            policy=_policy(),
            now=utcnow(),
        )
        session.commit()


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
