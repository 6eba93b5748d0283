"""The "approve" links of the daily mail about join requests: GET asks to confirm, POST
approves. As with RSVP links, the signed token is the credential (no sign-in, no CSRF
token: a forged POST would need the token itself) and a mail scanner's prefetch only GETs.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from scheduler.domain.access import MemberState
from scheduler.domain.errors import NotFound
from scheduler.extensions import current_services, db_session
from scheduler.models import Group, GroupMember, User
from scheduler.services.groups import circles
from scheduler.services.groups.approval_links import ApprovalClaim, read_approval_token

bp = Blueprint("approval_links", __name__)


def _claim(token: str) -> tuple[ApprovalClaim, Group, User, GroupMember | None]:
    claim = read_approval_token(current_services().config.secret_key, token)
    session = db_session()
    group = session.get(Group, claim.group_id)
    person = session.get(User, claim.user_id)
    if group is None or person is None:
        raise NotFound("This group or this person is gone.")
    return claim, group, person, circles.membership(session, group.id, person.id)


@bp.get("/groups/approve/<string:token>")
def confirm(token: str) -> str:
    """Ask the organizer to confirm letting the person in."""
    _, group, person, member = _claim(token)
    return render_template("group_approve.html", group=group, person=person, member=member)


@bp.post("/groups/approve/<string:token>")
def approve(token: str) -> str:
    """Approve (approving twice changes nothing); the organizer must still organize."""
    claim, group, person, member = _claim(token)
    session = db_session()
    organizer = session.get(User, claim.organizer_id)
    if organizer is None:
        raise NotFound("This link belongs to an account that no longer exists.")
    if member is not None and member.state == MemberState.PENDING:
        member = circles.change_member(
            session, group.id, organizer, person.id, state=MemberState.MEMBER
        )
        session.commit()
    return render_template(
        "group_approve.html", group=group, person=person, member=member, done=True
    )
