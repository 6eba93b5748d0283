"""People and their credentials."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, false
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
    # The secret feed token is HMAC(secret key, user id + nonce): only its hash is stored,
    # yet the URL can be shown again; rotating the nonce revokes the old URL.
    feed_token_nonce: Mapped[str] = mapped_column(String(64))
    feed_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    share_name: Mapped[bool] = mapped_column(Boolean, default=True)
    discoverable: Mapped[bool] = mapped_column(Boolean, default=False)
    weekly_digest: Mapped[bool] = mapped_column(Boolean, default=False)
    reminders_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # site administrators curate what is shared by everyone (interest aliases); granted and
    # revoked from the command line only (`flask --app wsgi admin grant|revoke <email>`)
    is_site_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    interests: Mapped[list[Interest]] = relationship(
        secondary=user_interests, order_by=Interest.name, lazy="selectin"
    )


class ApiToken(Base):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")
