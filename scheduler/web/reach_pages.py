"""A gathering's discussion and its organizers' messages on its page (and its poll's page).

The section is `_reach.html`, included by gathering.html and poll.html; `reach_section`
(a template global) gives it what the viewer may see and do.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from werkzeug.wrappers import Response

from scheduler.extensions import db_session
from scheduler.models import MESSAGE_AUDIENCES, Gathering, User
from scheduler.services.gatherings import access, comments, messages
from scheduler.web.auth import login_required, page_user, protect, require_user
from scheduler.web.forms import committed

bp = protect(Blueprint("reach_pages", __name__))

AUDIENCE_LABELS = {
    "going": lazy_gettext("People going"),
    "attending": lazy_gettext("People going, waitlisted or maybe"),
    "all": lazy_gettext("Everyone who answered"),
}
assert set(AUDIENCE_LABELS) == set(MESSAGE_AUDIENCES)
SHOWN_COMMENTS = 200


@bp.app_template_global()
def reach_section(gathering: Gathering) -> dict[str, Any]:
    """What the page's discussion and messages section shows the signed-in viewer."""
    session = db_session()
    user: User | None = page_user()
    rights = access.access_to(session, gathering, user)
    may_discuss = comments.may_discuss(session, gathering, user)
    shown = []
    if may_discuss and user is not None:
        rows = session.scalars(
            comments.comments_query(session, gathering.id, user).limit(SHOWN_COMMENTS)
        )
        for comment in rows:
            mine = comment.author_id == user.id
            shown.append(
                {
                    "id": comment.id,
                    "body": comment.body,
                    "created_at": comment.created_at,
                    "author": access.person_name(comment.author, user, manages=rights.manage),
                    "can_delete": mine or rights.manage,
                }
            )
    return {
        "user": user,
        "may_discuss": may_discuss,
        "comments": shown,
        "messages": messages.messages_for(session, gathering.id, user) if user else [],
        "may_message": rights.manage,
        "audiences": {value: str(label) for value, label in AUDIENCE_LABELS.items()},
    }


def _back(gathering_id: int, anchor: str) -> Response:
    return redirect(url_for("gathering_pages.show", gathering_id=gathering_id) + anchor)


@bp.post("/g/<int:gathering_id>/comments")
@login_required
def post_comment(gathering_id: int) -> Response:
    """Post a comment from the page."""
    session = db_session()
    body = request.form.get("body", "")
    if committed(lambda: comments.post_comment(session, gathering_id, require_user(), body)):
        flash(_("Your comment is posted."), "success")
    return _back(gathering_id, "#discussion")


@bp.post("/g/<int:gathering_id>/comments/<int:comment_id>/delete")
@login_required
def delete_comment(gathering_id: int, comment_id: int) -> Response:
    """Delete a comment (its author, or an organizer)."""
    session = db_session()
    if committed(
        lambda: comments.delete_comment(session, gathering_id, comment_id, require_user())
    ):
        flash(_("The comment is deleted."), "info")
    return _back(gathering_id, "#discussion")


@bp.post("/g/<int:gathering_id>/messages")
@login_required
def send_message(gathering_id: int) -> Response:
    """An organizer writes to the gathering's people from the page."""
    session = db_session()
    form = request.form
    sent = committed(
        lambda: messages.send_message(
            session,
            gathering_id,
            require_user(),
            subject=form.get("subject", ""),
            body=form.get("body", ""),
            to=form.get("to", ""),
        ),
        error_pages=(403, 404),
    )
    if sent:
        flash(_("Your message is on its way."), "success")
    return _back(gathering_id, "#messages")
