"""Rate limits: how often anyone may sign in, sign up, write or open mail links, declared in
one table.

Each row of RULES is a budget: the requests that spend it (endpoints, methods), whose budget
it is (an email address, an IP address, an account), its size (a setting of the one config
object, README "Rate limits") and what a refusal says. `init_rate_limits` hands the rows to
Flask-Limiter as application-wide limits on the app's Redis when the app starts, so no view
carries a decorator; the RSVP fast path, which answers before Flask, spends the same
per-account write budget (same rule, same storage, same keys) through `RateLimits.spend`.

Sign-in counts attempts, not failures: the budget is spent before the password is checked.
So parallel guesses cannot slip in before their failures are counted, the argon2 work anyone
can cause is bounded, and once an address is under attack its right password waits like any
other until the window passes (someone who signs in now and then never meets the limit).

The windows are fixed (one Redis call per budget and request): a window starts at the first
request that spends from it and Retry-After says when it ends. While Redis is unreachable
Flask-Limiter keeps the same limits in each process's memory.
"""

from __future__ import annotations

import ipaddress
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import limits
import redis
from flask import Flask, Response, jsonify, make_response, request, session
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded
from limits.errors import StorageError
from limits.strategies import RateLimiter
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from scheduler.api.auth import bearer_token, current_user
from scheduler.api.errors import error_body, render_error_page
from scheduler.config import Config
from scheduler.domain import language
from scheduler.domain.errors import KindredError
from scheduler.domain.language import N_
from scheduler.extensions import Services, redis_url_for
from scheduler.services.accounts.identity import sha256_hex
from scheduler.web.auth import USER_KEY, page_user
from scheduler.web.language import current_locale

API_PREFIX = "/api/"
STRATEGY = "fixed-window"
# what `spend` raises when the storage fails (the fast path then leaves the request to Flask)
STORAGE_ERRORS = (redis.RedisError, StorageError)
# set in the WSGI environ by a fast path that spent the request's write budget before
# passing it on to Flask, which then does not spend it again
WRITE_SPENT = "kindred.write_spent"


def client_address() -> str | None:
    """The caller's IP address; for IPv6 its /64, which one subscriber usually holds whole."""
    try:
        ip = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return f"ip:{request.remote_addr}" if request.remote_addr else None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"ip:{ip.ipv4_mapped}"
        return f"ip:{ipaddress.IPv6Network((ip, 64), strict=False)}"
    return f"ip:{ip}"


def email_address() -> str | None:
    """The address a sign-in or sign-up names (as sign-in looks it up, then hashed: no
    addresses in Redis), or None when the body names none (the view then refuses it)."""
    try:
        if request.path.startswith(API_PREFIX):
            body = request.get_json(silent=True)
            raw = body.get("email") if isinstance(body, dict) else None
        else:
            raw = request.form.get("email")
    except (HTTPException, ValueError, RecursionError):
        return None  # a body Flask cannot read: the view answers with the 4xx
    if not isinstance(raw, str) or not raw.strip():
        return None
    return "address:" + sha256_hex(raw.strip().lower())


def account_key(user_id: int) -> str:
    """Whose per-account budget a signed-in request spends (the fast path's key too)."""
    return f"account:{user_id}"


def signed_in_account() -> str | None:
    """The account a request comes from: the bearer token's owner on the API, the session's
    user on the pages; None when there is none (the view answers 401 or signs people in)."""
    if request.environ.get(WRITE_SPENT):
        return None
    if request.path.startswith(API_PREFIX):
        if bearer_token(request.headers.get("Authorization", "")) is None:
            return None
        try:
            user_id = current_user().id  # cached on the request: the view does not ask again
        except (KindredError, SQLAlchemyError):
            return None
    else:
        if not isinstance(session.get(USER_KEY), int):
            return None  # no signed-in cookie: no look-up
        try:
            # the live server-side session (cached for the view): a cookie whose session was
            # ended spends nobody's budget
            user = page_user()
        except SQLAlchemyError:
            return None
        if user is None:
            return None
        user_id = user.id
    return account_key(user_id)


@dataclass(frozen=True)
class RateRule:
    """One budget: the requests that spend it, whose it is, its setting, what a refusal says."""

    scope: str  # the budget's name in the storage keys, shared by all its endpoints
    setting: str  # the Config field (its environment variable is the name in capitals)
    key: Callable[[], str | None]  # whose budget the current request spends; None: nobody's
    methods: frozenset[str]
    endpoints: frozenset[str] | None  # None: every endpoint
    refusal: str  # English, marked for the catalogues: translated where it is shown

    def spender(self) -> str | None:
        """The key the current request spends this budget from, or None if it does not."""
        if request.method not in self.methods:
            return None
        if self.endpoints is not None and request.endpoint not in self.endpoints:
            return None
        return self.key()


SIGN_IN = frozenset({"accounts.Tokens", "pages.login"})
SIGN_UP = frozenset({"accounts.Users", "pages.signup"})
# requests that mail someone a link about their account: by address, and signed in
ACCOUNT_MAIL_BY_ADDRESS = frozenset(
    {
        "accounts.EmailLink",
        "accounts.PasswordReset",
        "account_pages.email_link",
        "account_pages.password_reset",
    }
)
ACCOUNT_MAIL_SIGNED_IN = frozenset(
    {
        "accounts.VerifyEmailAgain",
        "accounts.MyEmail",
        "account_pages.resend_verify",
        "account_pages.change_email",
    }
)
ACCOUNT_MAIL = ACCOUNT_MAIL_BY_ADDRESS | ACCOUNT_MAIL_SIGNED_IN
# links in mail, whose signed token is the credential: opened (GET) and answered (POST)
RSVP_LINKS = frozenset({"rsvp_links.confirm", "rsvp_links.record"})
UNSUBSCRIBE_LINKS = frozenset(
    {"unsubscribe.confirm", "unsubscribe.unsubscribe", "recommendations.DigestUnsubscribe"}
)
# asking to join a group owes its organizers mail; its approve links are opened from mail
JOIN_REQUESTS = frozenset({"groups.Members", "group_pages.join"})
APPROVAL_LINKS = frozenset({"approval_links.confirm", "approval_links.approve"})
# an organizer's message mails a gathering's people; comments are read by everyone there
MESSAGES = frozenset({"reach.Messages", "reach_pages.send_message"})
COMMENTS = frozenset({"reach.Comments", "reach_pages.post_comment"})
# calendar replies a mail provider forwards by HTTP; adding a calendar costs fetches
INBOUND_MAIL = frozenset({"inbound.inbound_mail"})
CALENDAR_IMPORTS = frozenset({"calendars.MyCalendars", "calendar_pages.add_calendar"})
# asking for a check-in mails the person asked; its answer links come from that mail
CHECKIN_REQUESTS = frozenset({"checkins.Checkins", "checkin_pages.ask"})
CHECKIN_LINKS = frozenset({"checkin_pages.answer_link", "checkin_pages.answer_link_post"})
# downloads that read a whole gathering's people or a whole account's data
EXPORTS = frozenset(
    {
        "gatherings.GatheringAttendeesCsv",
        "gathering_pages.attendees_csv",
        "accounts.MyData",
        "account_pages.export",
    }
)
POST = frozenset({"POST"})
READS = frozenset({"GET", "HEAD"})
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LINK_REQUESTS = frozenset({"GET", "HEAD", "POST"})

WRITES_PER_ACCOUNT = RateRule(
    "writes:account",
    "ratelimit_writes_per_account",
    signed_in_account,
    WRITES,
    None,
    N_("Too many changes from this account in a short time."),
)
RULES = (
    RateRule(
        "sign-in:address",
        "ratelimit_sign_in_per_address",
        email_address,
        POST,
        SIGN_IN,
        N_("Too many sign-in attempts for this email address."),
    ),
    RateRule(
        "sign-in:ip",
        "ratelimit_sign_in_per_ip",
        client_address,
        POST,
        SIGN_IN,
        N_("Too many sign-in attempts from your network."),
    ),
    RateRule(
        "sign-up:address",
        "ratelimit_sign_up_per_address",
        email_address,
        POST,
        SIGN_UP,
        N_("Too many sign-ups for this email address."),
    ),
    RateRule(
        "sign-up:ip",
        "ratelimit_sign_up_per_ip",
        client_address,
        POST,
        SIGN_UP,
        N_("Too many sign-ups from your network."),
    ),
    RateRule(
        "account-mail:address",
        "ratelimit_account_mail_per_address",
        email_address,
        POST,
        ACCOUNT_MAIL,
        N_("Too many mails asked for this email address."),
    ),
    RateRule(
        "account-mail:account",
        "ratelimit_account_mail_per_address",
        signed_in_account,
        POST,
        ACCOUNT_MAIL_SIGNED_IN,
        N_("Too many mails asked for this account."),
    ),
    RateRule(
        "account-mail:ip",
        "ratelimit_account_mail_per_ip",
        client_address,
        POST,
        ACCOUNT_MAIL,
        N_("Too many mails asked for from your network."),
    ),
    RateRule(
        "rsvp-links:ip",
        "ratelimit_rsvp_links_per_ip",
        client_address,
        LINK_REQUESTS,
        RSVP_LINKS,
        N_("Too many RSVP links opened from your network."),
    ),
    RateRule(
        "join-requests:account",
        "ratelimit_join_requests_per_account",
        signed_in_account,
        POST,
        JOIN_REQUESTS,
        N_("Too many requests to join groups from this account."),
    ),
    RateRule(
        "approval-links:ip",
        "ratelimit_approval_links_per_ip",
        client_address,
        LINK_REQUESTS,
        APPROVAL_LINKS,
        N_("Too many approval links opened from your network."),
    ),
    RateRule(
        "unsubscribe-links:ip",
        "ratelimit_unsubscribe_links_per_ip",
        client_address,
        LINK_REQUESTS,
        UNSUBSCRIBE_LINKS,
        N_("Too many unsubscribe links opened from your network."),
    ),
    RateRule(
        "messages:account",
        "ratelimit_messages_per_account",
        signed_in_account,
        POST,
        MESSAGES,
        N_("Too many messages sent from this account."),
    ),
    RateRule(
        "comments:account",
        "ratelimit_comments_per_account",
        signed_in_account,
        POST,
        COMMENTS,
        N_("Too many comments from this account."),
    ),
    RateRule(
        "inbound-mail:ip",
        "ratelimit_inbound_mail_per_ip",
        client_address,
        POST,
        INBOUND_MAIL,
        N_("Too many mails forwarded from your network."),
    ),
    RateRule(
        "calendar-imports:account",
        "ratelimit_calendar_imports_per_account",
        signed_in_account,
        POST,
        CALENDAR_IMPORTS,
        N_("Too many calendars added from this account."),
    ),
    RateRule(
        "checkins:account",
        "ratelimit_checkins_per_account",
        signed_in_account,
        POST,
        CHECKIN_REQUESTS,
        N_("Too many check-ins asked for from this account."),
    ),
    RateRule(
        "checkin-links:ip",
        "ratelimit_checkin_links_per_ip",
        client_address,
        LINK_REQUESTS,
        CHECKIN_LINKS,
        N_("Too many check-in links opened from your network."),
    ),
    RateRule(
        "exports:account",
        "ratelimit_exports_per_account",
        signed_in_account,
        READS,
        EXPORTS,
        N_("Too many downloads from this account."),
    ),
    WRITES_PER_ACCOUNT,
)
_ON_EVERY_ENDPOINT = frozenset().union(*(r.methods for r in RULES if r.endpoints is None))
_ON_NAMED_ENDPOINTS = frozenset(
    (method, endpoint)
    for rule in RULES
    for method in rule.methods
    for endpoint in rule.endpoints or ()
)


def limits_request(endpoint: str | None, method: str) -> bool:
    """True when some budget may count a request to `endpoint` by `method`: only those are
    shown to Flask-Limiter (other reads are spared its look at every rule), and the OpenAPI
    document lists a 429 for them."""
    return method in _ON_EVERY_ENDPOINT or (method, endpoint) in _ON_NAMED_ENDPOINTS


def refusal_message(rule: RateRule, wait_seconds: int, locale: str) -> str:
    """What a 429 says in `locale`: which budget ran out and when to try again."""
    if wait_seconds < 60:
        again = language.translate_plural(
            locale, "Try again in %(num)d second.", "Try again in %(num)d seconds.", wait_seconds
        )
    else:  # in words, to the nearest minute; Retry-After has the seconds
        again = language.translate_plural(
            locale,
            "Try again in %(num)d minute.",
            "Try again in %(num)d minutes.",
            round(wait_seconds / 60),
        )
    return f"{language.translate(locale, rule.refusal)} {again}"


def refusal_json(rule: RateRule, wait_seconds: int, locale: str) -> bytes:
    """The API's 429 body, the one error shape, for callers outside Flask (the fast path),
    in `locale`."""
    body = error_body(429, refusal_message(rule, wait_seconds, locale))
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def limits_storage_uri(redis_url: str) -> str:
    """The `limits` storage URI for a redis-py URL (a socket path is `redis+unix://`)."""
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url.removeprefix("unix://")
    return redis_url


def parsed_limits(config: Config, rule: RateRule) -> list[limits.RateLimitItem]:
    """The rule's limits from its setting, smallest window first; a clear error if unreadable."""
    value = getattr(config, rule.setting)
    try:
        items = limits.parse_many(value)
    except ValueError as exc:
        raise ValueError(
            f"{rule.setting.upper()}: {value!r} is not a rate limit such as "
            "'5 per minute; 20 per hour'"
        ) from exc
    return sorted(items)


def _seconds_until(moment: float) -> int:
    # the storage knows a window's end to the nearest second (Redis TTL): never say too early
    return max(1, math.ceil(moment - time.time() + 0.5))


class RateLimits:
    """The app's limits: Flask-Limiter for Flask's requests, `spend` for the fast paths."""

    def __init__(self, app: Flask, services: Services) -> None:
        config = services.config
        missing = {e for rule in RULES for e in rule.endpoints or ()} - set(app.view_functions)
        if missing:
            raise RuntimeError(f"rate limits name endpoints that do not exist: {sorted(missing)}")
        self.items = {rule.scope: parsed_limits(config, rule) for rule in RULES}
        self.rules = {rule.scope: rule for rule in RULES}
        self.enabled = config.ratelimit_enabled
        self.limiter: Limiter | None = None
        if not self.enabled:
            return
        self.limiter = Limiter(
            client_address,
            application_limits=[
                ApplicationLimit(
                    getattr(config, rule.setting),
                    key_function=rule.key,
                    scope=rule.scope,
                    exempt_when=lambda rule=rule: rule.spender() is None,  # type: ignore[misc]
                    error_message=rule.refusal,
                )
                for rule in RULES
            ],
            strategy=STRATEGY,
            # the app's Redis, through the pool Services already holds (and closes)
            storage_uri=limits_storage_uri(redis_url_for(config)),
            storage_options={"connection_pool": services.redis.connection_pool},  # type: ignore[dict-item]
            in_memory_fallback_enabled=True,
            swallow_errors=True,
            enabled=True,
        )
        self.limiter.request_filter(lambda: not limits_request(request.endpoint, request.method))
        self.limiter.init_app(app)
        app.register_error_handler(RateLimitExceeded, self._refuse)

    def spend(self, rule: RateRule, key: str) -> int | None:
        """Spend one request from `key`'s budget under `rule`, as Flask-Limiter would: the
        seconds to wait if it is exhausted, else None. Raises STORAGE_ERRORS."""
        assert self.limiter is not None, "spend only when the limits are enabled"
        strategy: RateLimiter = self.limiter.limiter  # Redis, or memory while Redis is down
        for item in self.items[rule.scope]:
            if not strategy.hit(item, key, rule.scope):
                return _seconds_until(strategy.get_window_stats(item, key, rule.scope).reset_time)
        return None

    def _refuse(self, exc: RateLimitExceeded) -> Response:
        """A refused request: the JSON error shape on the API, the error page for people,
        and Retry-After either way."""
        rule = self.rules[str(exc.limit.scope)]
        breached = self.limiter.current_limit if self.limiter else None
        try:
            wait = (
                _seconds_until(breached.window.reset_time)
                if breached
                else exc.limit.limit.get_expiry()
            )
        except STORAGE_ERRORS:
            wait = exc.limit.limit.get_expiry()
        message = refusal_message(rule, wait, current_locale())
        if request.path.startswith(API_PREFIX):
            response = jsonify(error_body(429, message))
            response.status_code = 429
        else:
            response = make_response(render_error_page(429, message))
        response.headers["Retry-After"] = str(wait)
        return response


def init_rate_limits(app: Flask, services: Services) -> RateLimits:
    """Apply RULES to the app's endpoints (when RATELIMIT_ENABLED); after the blueprints."""
    return RateLimits(app, services)
