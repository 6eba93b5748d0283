"""People and their credentials."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ColumnElement, ForeignKey, Index, String, false, func, true
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.models.base import Base, utcnow
from scheduler.models.interest import Interest, user_interests


class User(Base):
    """Someone who organizes or attends gatherings."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # the language of their pages and mail (scheduler/domain/language.py: en, de, fr, es)
    locale: Mapped[str] = mapped_column(String(10), default="en", server_default="en")
    # The secret feed token is HMAC(secret key, user id + nonce): only its hash is stored,
    # yet the URL can be shown again; rotating the nonce revokes the old URL.
    feed_token_nonce: Mapped[str] = mapped_column(String(64))
    feed_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    share_name: Mapped[bool] = mapped_column(Boolean, default=True)
    discoverable: Mapped[bool] = mapped_column(Boolean, default=False)
    # people they have met may ask them for a check-in (services/tribe/checkins.py);
    # None (never chosen) follows `discoverable`
    allow_checkins: Mapped[bool | None] = mapped_column(Boolean)
    # the occasional "you haven't caught up with ... since ..." mail
    checkin_nudges: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    weekly_digest: Mapped[bool] = mapped_column(Boolean, default=False)
    reminders_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # new gatherings and polls in their groups: "each" (a mail each), "weekly" or "none"
    announcements: Mapped[str] = mapped_column(String(10), default="each", server_default="each")
    # organizers: one mail a day with new answers and comments of what they organize
    organizer_updates: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # site administrators curate what is shared by everyone (interest aliases); granted and
    # revoked from the command line only (`flask --app wsgi admin grant|revoke <email>`)
    is_site_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # when the address was proved by following a link mailed to it; until then Kindred mails
    # it nothing but account links. Sign-up sets None explicitly; rows made any other way
    # (accounts from before migration 0006, the demo, test factories) count as verified.
    email_verified_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    # the last password change: a password-reset link issued before it no longer works
    password_changed_at: Mapped[datetime | None] = mapped_column()
    # an erased account kept only as an anonymous placeholder for what it organized
    deleted_at: Mapped[datetime | None] = mapped_column()

    interests: Mapped[list[Interest]] = relationship(
        secondary=user_interests, order_by=Interest.name, lazy="selectin"
    )

    @hybrid_property
    def accepts_checkins(self) -> bool:
        """Whether people they have met may ask them for a check-in (unset: discoverable)."""
        return self.discoverable if self.allow_checkins is None else self.allow_checkins

    @accepts_checkins.inplace.expression
    @classmethod
    def _accepts_checkins_sql(cls) -> ColumnElement[bool]:
        return func.coalesce(cls.allow_checkins, cls.discoverable)


class ApiToken(Base):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship(lazy="joined")


class WebSession(Base):
    """A signed-in browser: the cookie carries a random id, only its SHA-256 is stored, and
    deleting the row signs that browser out (a copied cookie stops working)."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_agent: Mapped[str] = mapped_column(String(200), default="", server_default="")


class AccountLink(Base):
    """A link mailed for one purpose (verify, sign_in, password_reset, email_change): the
    mailed token is this row's id signed with the app secret (itsdangerous, a salt per
    purpose); the row makes it expire and work once."""

    __tablename__ = "account_links"
    __table_args__ = (Index("ix_account_links_user_purpose", "user_id", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(20))
    # the address the link was mailed to (the new one for a change of address)
    email: Mapped[str] = mapped_column(String(254))
    # where a sign-in link leads afterwards (a path on this site), e.g. a poll to answer
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
