"""Check-ins: one-to-one meetings between people who have met at a gathering.

A person asks someone they went to a past gathering with (who allows check-ins); Kindred
proposes times that suit both (their painted availability, else evenings in both zones); the
other picks one in one click and it becomes a small gathering of the two, so invites,
reminders and feeds work as for any gathering. `every_weeks` makes it a habit: after one ends,
the clock proposes the next near the same weekday and time. Someone who declined the same
person twice within DECLINE_WINDOW is not asked by them again until it has passed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from scheduler.domain.checkins import next_habit_times, propose_times
from scheduler.domain.errors import Conflict, InvalidInput, NotAllowed, NotFound
from scheduler.domain.language import translate
from scheduler.models import (
    AvailabilityInterval,
    Checkin,
    CheckinStatus,
    Gathering,
    GatheringStatus,
    Rsvp,
    User,
)
from scheduler.services.gatherings import attendance, lifecycle
from scheduler.services.mail import checkin_mail, delivery
from scheduler.services.mail.outbox import owe_mail
from scheduler.services.tribe.recommendations import met_people_query

CHECKIN_MINUTES = 30
DECLINE_LIMIT = 2
DECLINE_WINDOW = timedelta(days=90)
MAX_EVERY_WEEKS = 52


def have_met(session: Session, me: User, other_id: int, now: datetime) -> bool:
    """True when both went to a gathering that has ended (as /me/met counts, whatever their
    discoverability: they chose check-ins separately)."""
    return any(
        person == other_id
        for person, _ in session.execute(met_people_query(me.id, now, discoverable_only=False))
    )


def _painted(session: Session, user_id: int, now: datetime) -> list[tuple[datetime, datetime]]:
    """The person's availability painted in polls, from now on."""
    return [
        (s, e)
        for s, e in session.execute(
            select(AvailabilityInterval.starts_at, AvailabilityInterval.ends_at).where(
                AvailabilityInterval.user_id == user_id, AvailabilityInterval.ends_at > now
            )
        )
    ]


def _owe_request(session: Session, checkin: Checkin) -> None:
    owe_mail(
        session,
        key=f"{checkin_mail.KIND}:{checkin.id}",
        kind=checkin_mail.KIND,
        recipient=checkin.invitee,
        payload={"checkin_id": checkin.id},
    )
    delivery.deliver_soon_after_commit(session)


def ask(
    session: Session, asker: User, invitee_id: int, *, every_weeks: int | None, now: datetime
) -> Checkin:
    """Propose a check-in to `invitee_id` (NotAllowed unless they met, they allow it and have
    not declined the asker twice lately; Conflict while one is already open)."""
    if invitee_id == asker.id:
        raise InvalidInput("A check-in is with someone else.", field="with")
    if every_weeks is not None and not 1 <= every_weeks <= MAX_EVERY_WEEKS:
        raise InvalidInput(
            "Between 1 and %(count)s weeks.", count=MAX_EVERY_WEEKS, field="every_weeks"
        )
    invitee = session.get(User, invitee_id)
    refused = NotAllowed("You can ask for a check-in only someone you have met who allows it.")
    if invitee is None or invitee.deleted_at is not None or not invitee.accepts_checkins:
        raise refused
    if not have_met(session, asker, invitee.id, now):
        raise refused
    declines = session.scalar(
        select(func.count(Checkin.id)).where(
            Checkin.asker_id == asker.id,
            Checkin.invitee_id == invitee.id,
            Checkin.status == CheckinStatus.DECLINED,
            Checkin.answered_at > now - DECLINE_WINDOW,
        )
    )
    if (declines or 0) >= DECLINE_LIMIT:
        raise NotAllowed("%(name)s said no twice lately; give it some time.", name=invitee.name)
    if _open_between(session, asker.id, invitee.id) is not None:
        raise Conflict("You already have an open check-in with this person.")
    times = propose_times(
        now,
        (asker.timezone, invitee.timezone),
        CHECKIN_MINUTES,
        free=(_painted(session, asker.id, now), _painted(session, invitee.id, now)),
    )
    checkin = Checkin(
        asker_id=asker.id,
        invitee_id=invitee.id,
        status=CheckinStatus.PROPOSED,
        every_weeks=every_weeks,
        duration_minutes=CHECKIN_MINUTES,
        proposals=[t.isoformat() for t in times],
        created_at=now,
    )
    session.add(checkin)
    session.flush()
    _owe_request(session, checkin)
    return checkin


def _open_between(session: Session, a: int, b: int) -> Checkin | None:
    """A proposed check-in between the two, either way round."""
    return session.scalars(
        select(Checkin).where(
            Checkin.status == CheckinStatus.PROPOSED,
            or_(
                (Checkin.asker_id == a) & (Checkin.invitee_id == b),
                (Checkin.asker_id == b) & (Checkin.invitee_id == a),
            ),
        )
    ).first()


def get_own(session: Session, checkin_id: int, user: User) -> Checkin:
    """A check-in the user is one of the two of (NotFound for anyone else)."""
    checkin = session.get(Checkin, checkin_id)
    if checkin is None or user.id not in (checkin.asker_id, checkin.invitee_id):
        raise NotFound("No check-in with id %(id)s.", id=checkin_id)
    return checkin


def accept(
    session: Session, checkin_id: int, user: User, choice: int, *, now: datetime, uid_domain: str
) -> Checkin:
    """The invitee picks proposal `choice`: it becomes a gathering of the two (both going, so
    both are sent the invite). Picking again the same time is a no-op."""
    checkin = get_own(session, checkin_id, user)
    if user.id != checkin.invitee_id:
        raise NotAllowed("Only the person asked picks the time.")
    if checkin.status == CheckinStatus.ACCEPTED:
        return checkin
    if checkin.status == CheckinStatus.DECLINED:
        raise Conflict("This check-in was declined.")
    if checkin.status != CheckinStatus.PROPOSED:
        raise Conflict("This check-in was stopped.")
    if not 0 <= choice < len(checkin.proposals):
        raise InvalidInput("Pick one of the proposed times.", field="choice")
    start = datetime.fromisoformat(checkin.proposals[choice])
    if start <= now:
        raise Conflict("That time has passed; ask for new times.")
    asker = checkin.asker
    # the gathering is the asker's (its organizer): named in the asker's language
    gathering = lifecycle.create_gathering(
        session,
        asker,
        {
            "title": translate(
                asker.locale,
                "Check-in: %(asker)s & %(invitee)s",
                asker=asker.name,
                invitee=user.name,
            ),
            "description": translate(asker.locale, "A one-to-one catch-up, arranged in Kindred."),
            "visibility": "unlisted",
            "attendance_mode": "in_person",
            "timezone": asker.timezone,
            "duration_minutes": checkin.duration_minutes,
            "capacity": 2,
            "starts_at": start,
        },
        now=now,
        uid_domain=uid_domain,
    )
    checkin.status = CheckinStatus.ACCEPTED
    checkin.chosen_start = start
    checkin.gathering_id = gathering.id
    checkin.answered_at = now
    session.flush()
    for person in (asker.id, user.id):
        attendance.set_rsvp(session, gathering.id, person, "yes", now=now)
    return checkin


def decline(session: Session, checkin_id: int, user: User, *, now: datetime) -> Checkin:
    """The invitee says no (a second no within DECLINE_WINDOW stops the asker asking)."""
    checkin = get_own(session, checkin_id, user)
    if user.id != checkin.invitee_id:
        raise NotAllowed("Only the person asked can decline; you can stop it instead.")
    if checkin.status == CheckinStatus.PROPOSED:
        checkin.status = CheckinStatus.DECLINED
        checkin.answered_at = now
        session.flush()
    return checkin


def stop(session: Session, checkin_id: int, user: User, *, now: datetime) -> Checkin:
    """Either person ends the habit: no more are proposed (an open proposal is withdrawn;
    an agreed time stays in the calendar)."""
    checkin = get_own(session, checkin_id, user)
    checkin.every_weeks = None
    if checkin.status == CheckinStatus.PROPOSED:
        checkin.status = CheckinStatus.STOPPED
        checkin.answered_at = now
    session.flush()
    return checkin


def propose_next(session: Session, *, now: datetime) -> int:
    """For every habit whose last check-in has ended, propose the next one (once: the
    successor row is unique per predecessor). Returns how many were proposed."""
    successor = select(Checkin.previous_id).where(Checkin.previous_id.is_not(None))
    due = session.scalars(
        select(Checkin)
        .join(Gathering, Gathering.id == Checkin.gathering_id)
        .where(
            Checkin.status == CheckinStatus.ACCEPTED,
            Checkin.every_weeks.is_not(None),
            Gathering.ends_at <= now,
            Checkin.id.not_in(successor),
        )
        .order_by(Checkin.id)
        .limit(500)
        .with_for_update(of=Checkin, skip_locked=True)
    ).all()
    for previous in due:
        assert previous.chosen_start is not None and previous.every_weeks is not None
        times = next_habit_times(previous.chosen_start, previous.every_weeks, now)
        checkin = Checkin(
            asker_id=previous.asker_id,
            invitee_id=previous.invitee_id,
            status=CheckinStatus.PROPOSED,
            every_weeks=previous.every_weeks,
            duration_minutes=previous.duration_minutes,
            proposals=[t.isoformat() for t in times],
            previous_id=previous.id,
            created_at=now,
        )
        session.add(checkin)
        session.flush()
        _owe_request(session, checkin)
    return len(due)


def my_checkins(session: Session, user: User) -> list[Checkin]:
    """The user's check-ins either way round, newest first (at most 200)."""
    return list(
        session.scalars(
            select(Checkin)
            .where(or_(Checkin.asker_id == user.id, Checkin.invitee_id == user.id))
            .order_by(Checkin.id.desc())
            .limit(200)
        )
    )


def next_date(checkin: Checkin) -> datetime | None:
    """When they next meet: the agreed time, else the earliest proposal still open."""
    if checkin.status == CheckinStatus.ACCEPTED:
        return checkin.chosen_start
    if checkin.status == CheckinStatus.PROPOSED and checkin.proposals:
        return min(datetime.fromisoformat(p) for p in checkin.proposals)
    return None


# a gentle "you haven't caught up with ..." once people last met this long ago, at most
# once a calendar month per person (the outbox key names the month)
CATCH_UP_AFTER = timedelta(days=60)
CATCH_UP_BATCH = 1000


def owe_catch_up_nudges(session: Session, *, now: datetime) -> int:
    """Owe each person who wants them (User.checkin_nudges) one nudge this month about the
    person they have met most often, who allows check-ins, whom they last met more than
    CATCH_UP_AFTER ago and have no check-in open or coming with. Returns how many were owed."""
    mine, theirs = aliased(Rsvp), aliased(Rsvp)
    me, them = aliased(User), aliased(User)
    ended = or_(
        Gathering.status == GatheringStatus.COMPLETED,
        and_(Gathering.status == GatheringStatus.SCHEDULED, Gathering.ends_at <= now),
    )
    pending = exists().where(
        Checkin.status.in_((CheckinStatus.PROPOSED, CheckinStatus.ACCEPTED)),
        or_(Checkin.chosen_start.is_(None), Checkin.chosen_start > now),
        or_(
            and_(Checkin.asker_id == mine.user_id, Checkin.invitee_id == theirs.user_id),
            and_(Checkin.asker_id == theirs.user_id, Checkin.invitee_id == mine.user_id),
        ),
    )
    last = func.max(Gathering.ends_at)
    rows = session.execute(
        select(mine.user_id, theirs.user_id, last, func.count())
        .join(Gathering, Gathering.id == mine.gathering_id)
        .join(theirs, theirs.gathering_id == mine.gathering_id)
        .join(me, me.id == mine.user_id)
        .join(them, them.id == theirs.user_id)
        .where(
            mine.state == "going",
            theirs.state == "going",
            theirs.user_id != mine.user_id,
            ended,
            me.checkin_nudges.is_(True),
            me.deleted_at.is_(None),
            them.deleted_at.is_(None),
            them.accepts_checkins.is_(True),
            ~pending,
        )
        .group_by(mine.user_id, theirs.user_id)
        .having(last < now - CATCH_UP_AFTER)
        .order_by(mine.user_id, func.count().desc(), last.desc(), theirs.user_id)
        .limit(CATCH_UP_BATCH * 20)
    ).all()
    chosen: dict[int, tuple[int, datetime]] = {}
    for user_id, other_id, last_met, _times in rows:
        chosen.setdefault(user_id, (other_id, last_met))
    month = now.strftime("%Y-%m")
    owed = 0
    for user_id, (other_id, last_met) in list(chosen.items())[:CATCH_UP_BATCH]:
        user, other = session.get(User, user_id), session.get(User, other_id)
        assert user is not None and other is not None
        row = owe_mail(
            session,
            key=f"{checkin_mail.CATCH_UP_KIND}:{user_id}:{month}",
            kind=checkin_mail.CATCH_UP_KIND,
            recipient=user,
            payload={
                "other_id": other_id,
                "other_name": other.name,
                "last_met": last_met.isoformat(),
            },
        )
        owed += row is not None
    return owed
