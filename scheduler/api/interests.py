"""Interests: autocomplete over existing tags, and the aliases organizers add."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from scheduler.api.auth import BEARER_AUTH, current_user
from scheduler.extensions import db_session
from scheduler.schemas.recommendations import (
    AliasArgsSchema,
    AliasSchema,
    InterestCountSchema,
    InterestQueryArgsSchema,
)
from scheduler.services.interests import aliases

blp = Blueprint("interests", __name__, url_prefix="/api/v1/interests", description="Interests")


@blp.route("")
class Interests(MethodView):
    """Autocomplete."""

    @blp.arguments(InterestQueryArgsSchema, location="query")
    @blp.response(200, InterestCountSchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """Existing tags containing `q` (or the tag `q` is an alias of), most used first."""
        rows = aliases.search_with_aliases(db_session(), args["q"], limit=args["limit"])
        return [{"name": name, "count": count} for name, count in rows]


@blp.route("/aliases")
class Aliases(MethodView):
    """Alternative spellings that resolve to one tag."""

    @blp.response(200, AliasSchema(many=True))
    def get(self) -> Any:
        """Every alias, built-in and added."""
        return [{"alias": a, "interest": i} for a, i in aliases.list_aliases(db_session())]

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(AliasArgsSchema)
    @blp.response(201, AliasSchema)
    def post(self, args: dict[str, Any]) -> Any:
        """Add an alias (group organizers only); 409 if it exists."""
        session = db_session()
        row = aliases.add_alias(session, current_user(), **args)
        session.commit()
        return {"alias": row.alias, "interest": row.interest.name}
