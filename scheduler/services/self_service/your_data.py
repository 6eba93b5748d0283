"""A person's data: everything stored about them, and erasing it.

Erasure frees their seats through attendance (the seat rule's one entry, so waitlists are
promoted as for any "no"), removes every row that is theirs, and leaves the users row only
where something others still use points at it (a gathering, group or series they organized):
then as an anonymous placeholder, "Deleted account" at an address that cannot receive mail.
"""

from __future__ import annotations

import secrets
from contextlib import suppress
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.domain.errors import KindredError
from scheduler.models import (
    AccountLink,
    AliasSuggestion,
    ApiToken,
    AvailabilityInterval,
    Checkin,
    DomainEvent,
    Gathering,
    GatheringComment,
    GatheringMute,
    Group,
    GroupMember,
    InterestAlias,
    Invitation,
    OutboxMessage,
    OutboxStatus,
    Poll,
    Rsvp,
    Series,
    SeriesAnswer,
    User,
    UserCalendar,
    WebSession,
)
from scheduler.services.accounts import identity
from scheduler.services.accounts.links import ACCOUNT_MAIL_KINDS
from scheduler.services.gatherings import attendance
from scheduler.services.groups.access import ERASED_NAME
from scheduler.services.polls.slots import request_recompute_after_commit

# answers that hold a seat, a waitlist place or a "maybe": freed with a "no"
_HOLDING = ("going", "waitlisted", "maybe")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def export(session: Session, user: User) -> dict[str, Any]:
    """Everything stored about `user`, as JSON-ready data (secrets only as their metadata)."""
    uid = user.id
    groups = session.execute(
        select(GroupMember, Group.name)
        .join(Group, Group.id == GroupMember.group_id)
        .where(GroupMember.user_id == uid)
        .order_by(GroupMember.joined_at, GroupMember.id)
    ).all()
    rsvps = session.execute(
        select(Rsvp, Gathering.title, Gathering.starts_at)
        .join(Gathering, Gathering.id == Rsvp.gathering_id)
        .where(Rsvp.user_id == uid)
        .order_by(Rsvp.created_at, Rsvp.id)
    ).all()
    return {
        "profile": {
            "id": uid,
            "email": user.email,
            "name": user.name,
            "timezone": user.timezone,
            "interests": [interest.name for interest in user.interests],
            "email_verified": user.email_verified_at is not None,
            "email_verified_at": _iso(user.email_verified_at),
            "password_changed_at": _iso(user.password_changed_at),
            "share_name": user.share_name,
            "discoverable": user.discoverable,
            "weekly_digest": user.weekly_digest,
            "reminders_enabled": user.reminders_enabled,
            "announcements": user.announcements,
            "organizer_updates": user.organizer_updates,
            "allow_checkins": user.accepts_checkins,
            "checkin_nudges": user.checkin_nudges,
            "is_site_admin": user.is_site_admin,
            "created_at": _iso(user.created_at),
        },
        "groups": [
            {
                "group_id": member.group_id,
                "name": name,
                "role": member.role,
                "joined_at": _iso(member.joined_at),
            }
            for member, name in groups
        ],
        "groups_organized": [
            {"id": group_id, "name": name}
            for group_id, name in session.execute(
                select(Group.id, Group.name).where(Group.organizer_id == uid).order_by(Group.id)
            )
        ],
        "gatherings_organized": [
            {"id": gid, "title": title, "status": status, "starts_at": _iso(starts_at)}
            for gid, title, status, starts_at in session.execute(
                select(Gathering.id, Gathering.title, Gathering.status, Gathering.starts_at)
                .where(Gathering.organizer_id == uid)
                .order_by(Gathering.id)
            )
        ],
        "rsvps": [
            {
                "gathering_id": rsvp.gathering_id,
                "title": title,
                "starts_at": _iso(starts_at),
                "response": rsvp.response,
                "state": rsvp.state,
                "guests": rsvp.guests,
                "answers": dict(rsvp.answers),
                "created_at": _iso(rsvp.created_at),
                "updated_at": _iso(rsvp.updated_at),
            }
            for rsvp, title, starts_at in rsvps
        ],
        "checkins": [
            {
                "id": checkin.id,
                "asked_by_me": checkin.asker_id == uid,
                "with": checkin.invitee_id if checkin.asker_id == uid else checkin.asker_id,
                "status": checkin.status,
                "every_weeks": checkin.every_weeks,
                "proposals": list(checkin.proposals),
                "chosen_start": _iso(checkin.chosen_start),
                "gathering_id": checkin.gathering_id,
                "created_at": _iso(checkin.created_at),
            }
            for checkin in session.scalars(
                select(Checkin)
                .where((Checkin.asker_id == uid) | (Checkin.invitee_id == uid))
                .order_by(Checkin.id)
            )
        ],
        "series_answers": [
            {
                "series_id": answer.series_id,
                "response": answer.response,
                "from_start": _iso(answer.from_start),
                "created_at": _iso(answer.created_at),
            }
            for answer in session.scalars(
                select(SeriesAnswer).where(SeriesAnswer.user_id == uid).order_by(SeriesAnswer.id)
            )
        ],
        "availability": [
            {
                "gathering_id": span.gathering_id,
                "start": _iso(span.starts_at),
                "end": _iso(span.ends_at),
                "preference": "yes" if span.preferred else "ifneedbe",
            }
            for span in session.scalars(
                select(AvailabilityInterval)
                .where(AvailabilityInterval.user_id == uid)
                .order_by(AvailabilityInterval.gathering_id, AvailabilityInterval.starts_at)
            )
        ],
        "invitations": [
            {
                "gathering_id": invitation.gathering_id,
                "created_at": _iso(invitation.created_at),
                "answered_at": _iso(invitation.answered_at),
            }
            for invitation in session.scalars(
                select(Invitation).where(Invitation.user_id == uid).order_by(Invitation.id)
            )
        ],
        "comments": [
            {"gathering_id": gid, "body": body, "created_at": _iso(created_at)}
            for gid, body, created_at in session.execute(
                select(
                    GatheringComment.gathering_id,
                    GatheringComment.body,
                    GatheringComment.created_at,
                )
                .where(GatheringComment.author_id == uid)
                .order_by(GatheringComment.id)
            )
        ],
        "muted_gatherings": list(
            session.scalars(
                select(GatheringMute.gathering_id)
                .where(GatheringMute.user_id == uid)
                .order_by(GatheringMute.gathering_id)
            )
        ),
        "alias_suggestions": [
            {
                "alias": suggestion.alias,
                "interest": suggestion.interest.name,
                "reason": suggestion.reason,
                "status": suggestion.status,
                "created_at": _iso(suggestion.created_at),
            }
            for suggestion in session.scalars(
                select(AliasSuggestion)
                .where(AliasSuggestion.suggested_by_id == uid)
                .order_by(AliasSuggestion.id)
            )
        ],
        "mail": [
            {
                "kind": row.kind,
                "to": row.recipient_email,
                "gathering_id": row.gathering_id,
                "status": row.status,
                "due_at": _iso(row.due_at),
                "sent_at": _iso(row.sent_at),
                "created_at": _iso(row.created_at),
            }
            for row in session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.recipient_id == uid)
                .order_by(OutboxMessage.id)
            )
        ],
        "api_tokens": [
            {
                "id": token.id,
                "label": token.label,
                "created_at": _iso(token.created_at),
                "last_used_at": _iso(token.last_used_at),
                "expires_at": _iso(token.expires_at),
            }
            for token in session.scalars(
                select(ApiToken).where(ApiToken.user_id == uid).order_by(ApiToken.id)
            )
        ],
        "calendars": [
            {
                "url": calendar.url,
                "status": calendar.status,
                "fetched_at": _iso(calendar.fetched_at),
                "busy": calendar.busy,
                "created_at": _iso(calendar.created_at),
            }
            for calendar in session.scalars(
                select(UserCalendar).where(UserCalendar.user_id == uid).order_by(UserCalendar.id)
            )
        ],
        "sessions": [
            {
                "created_at": _iso(web.created_at),
                "last_seen_at": _iso(web.last_seen_at),
                "user_agent": web.user_agent,
            }
            for web in session.scalars(
                select(WebSession).where(WebSession.user_id == uid).order_by(WebSession.id)
            )
        ],
    }


def erase(
    session: Session,
    user: User,
    *,
    password: str,
    policy: identity.PasswordPolicy,
    now: datetime,
) -> None:
    """Remove the account: seats freed (waitlists promoted), every row of theirs deleted,
    the users row gone or, where a foreign key needs it, an anonymous placeholder."""
    if identity.has_password(user):
        identity.check_password(user, password, policy)
    uid = user.id
    _withdraw_participation(session, uid, now=now)
    for model in (ApiToken, WebSession, AccountLink, DomainEvent, UserCalendar):
        session.execute(
            delete(model).where(model.user_id == uid).execution_options(synchronize_session=False)
        )
    session.execute(
        delete(OutboxMessage)
        .where(OutboxMessage.recipient_id == uid)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(AliasSuggestion)
        .where(AliasSuggestion.suggested_by_id == uid)
        .values(suggested_by_id=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(AliasSuggestion)
        .where(AliasSuggestion.decided_by_id == uid)
        .values(decided_by_id=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(InterestAlias)
        .where(InterestAlias.created_by_id == uid)
        .values(created_by_id=None)
        .execution_options(synchronize_session=False)
    )
    _anonymise(user, now=now)
    # what they organized shows the placeholder's name: feeds render it anew
    for gathering in session.scalars(select(Gathering).where(Gathering.organizer_id == uid)):
        gathering.revision += 1
        gathering.updated_at = now
    session.flush()
    try:
        with session.begin_nested():
            session.execute(delete(User).where(User.id == uid))
    except IntegrityError:
        pass  # they organized gatherings, groups or series: the placeholder stays
    else:
        session.expunge(user)


def _withdraw_participation(session: Session, uid: int, *, now: datetime) -> None:
    """Free the person's seats and places (through attendance: waitlists are promoted) and
    delete what they took part in: answers, availability, invitations, memberships."""
    holding = session.scalars(
        select(Rsvp.gathering_id).where(Rsvp.user_id == uid, Rsvp.state.in_(_HOLDING))
    ).all()
    for gathering_id in holding:
        # ended or cancelled: no seat to free, the row goes below
        with suppress(KindredError):
            attendance.set_rsvp(session, gathering_id, uid, "no", now=now)
    polls = session.scalars(
        select(Poll)
        .where(
            Poll.gathering_id.in_(
                select(AvailabilityInterval.gathering_id)
                .where(AvailabilityInterval.user_id == uid)
                .union(select(Invitation.gathering_id).where(Invitation.user_id == uid))
            )
        )
        .with_for_update()
    ).all()
    for model in (Rsvp, AvailabilityInterval, Invitation, GroupMember, SeriesAnswer, GatheringMute):
        session.execute(
            delete(model).where(model.user_id == uid).execution_options(synchronize_session=False)
        )
    # their check-ins, either way round: none is proposed to or by them any more
    session.execute(
        delete(Checkin)
        .where((Checkin.asker_id == uid) | (Checkin.invitee_id == uid))
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(GatheringComment)
        .where(GatheringComment.author_id == uid)
        .execution_options(synchronize_session=False)
    )
    for poll in polls:  # their answers leave the heatmaps and the ranking (which names
        poll.availability_revision += 1  # people: dropped now, recomputed by the worker)
        poll.result = None
        poll.computed_revision = -1
        request_recompute_after_commit(session, poll.gathering_id)


def forget_what_the_maker_did(session: Session, user: User, *, now: datetime) -> None:
    """Someone proved the address of an account they may not have made (a takeover): what
    its maker joined and answered is withdrawn, seats freed, and the mail held for it (never
    sent, the address was not proved) is dropped, so the owner is mailed nothing they did
    not ask for."""
    _withdraw_participation(session, user.id, now=now)
    session.execute(
        delete(OutboxMessage)
        .where(
            OutboxMessage.recipient_id == user.id,
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.kind.not_in(ACCOUNT_MAIL_KINDS),
        )
        .execution_options(synchronize_session=False)
    )


def _anonymise(user: User, *, now: datetime) -> None:
    user.name = ERASED_NAME  # stored in English; account_name shows it in the reader's
    user.email = f"deleted-{user.id}@invalid"
    user.password_hash = identity.NO_PASSWORD
    user.password_changed_at = now
    user.timezone = "UTC"
    user.feed_token_nonce = ""
    user.feed_token_hash = secrets.token_hex(32)  # matches no feed URL
    user.share_name = False
    user.discoverable = False
    user.weekly_digest = False
    user.reminders_enabled = False
    user.is_site_admin = False
    user.email_verified_at = None
    user.deleted_at = now
    user.created_at = now
    user.interests = []


def placeholder_in_use(session: Session, user_id: int) -> bool:
    """Whether a placeholder row is still pointed at (for tests and the operator)."""
    return any(
        session.scalar(select(model.id).where(model.organizer_id == user_id).limit(1)) is not None
        for model in (Gathering, Group, Series)
    )
