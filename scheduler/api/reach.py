"""Reach: a gathering's discussion and its organizers' messages to its people."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters

from scheduler.api.auth import BEARER_AUTH, current_user
from scheduler.api.pagination import paginate
from scheduler.extensions import db_session
from scheduler.models import GatheringComment, User
from scheduler.schemas.common import WithExtra
from scheduler.schemas.reach import (
    CommentArgsSchema,
    CommentSchema,
    MessageArgsSchema,
    MessageSchema,
)
from scheduler.services.gatherings import access, comments, messages
from scheduler.services.gatherings.lifecycle import get_gathering

blp = Blueprint(
    "reach", __name__, url_prefix="/api/v1/gatherings", description="Comments and messages"
)


def comment_view(comment: GatheringComment, viewer: User, manages: bool) -> WithExtra:
    """A comment with its author's name as the caller may see it."""
    author = comment.author
    return WithExtra(
        comment,
        author={"id": author.id, "name": access.person_name(author, viewer, manages=manages)},
        can_delete=manages or author.id == viewer.id,
    )


@blp.route("/<int:gathering_id>/comments")
class Comments(MethodView):
    """The gathering's discussion (its group's members, its attendees, its organizers)."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(200, CommentSchema(many=True))
    @blp.paginate()
    def get(self, gathering_id: int, pagination_parameters: PaginationParameters) -> Any:
        """Comments, oldest first."""
        session = db_session()
        user = current_user()
        stmt = comments.comments_query(session, gathering_id, user)
        manages = access.access_to(session, get_gathering(session, gathering_id), user).manage
        rows = paginate(session, stmt, pagination_parameters)
        return [comment_view(c, user, manages) for c in rows]

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(CommentArgsSchema)
    @blp.response(201, CommentSchema)
    def post(self, args: dict[str, Any], gathering_id: int) -> Any:
        """Post a comment (not mailed: organizers read new ones in their daily summary)."""
        session = db_session()
        user = current_user()
        comment = comments.post_comment(session, gathering_id, user, args["body"])
        session.commit()
        return comment_view(comment, user, manages=False)


@blp.route("/<int:gathering_id>/comments/<int:comment_id>")
class CommentById(MethodView):
    """One comment."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(204)
    def delete(self, gathering_id: int, comment_id: int) -> None:
        """Delete your own comment; organizers delete any."""
        session = db_session()
        comments.delete_comment(session, gathering_id, comment_id, current_user())
        session.commit()


@blp.route("/<int:gathering_id>/messages")
class Messages(MethodView):
    """Organizers' messages to the gathering's people."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(200, MessageSchema(many=True))
    def get(self, gathering_id: int) -> Any:
        """Messages sent, newest first (for whoever sees the gathering's details)."""
        return messages.messages_for(db_session(), gathering_id, current_user())

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(MessageArgsSchema)
    @blp.response(202, MessageSchema)
    def post(self, args: dict[str, Any], gathering_id: int) -> Any:
        """Organizers only: mail `going`, `attending` (going, waitlisted, maybe) or `all` who
        answered; the mail goes out through the outbox."""
        session = db_session()
        message = messages.send_message(session, gathering_id, current_user(), **args)
        session.commit()
        return message
