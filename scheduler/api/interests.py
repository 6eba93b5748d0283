"""Interests: autocomplete over existing tags, aliases (site administrators) and the alias
suggestions organizers make."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters

from scheduler.api.auth import BEARER_AUTH, current_user
from scheduler.api.pagination import paginate
from scheduler.extensions import db_session
from scheduler.models import utcnow
from scheduler.schemas.common import ErrorSchema
from scheduler.schemas.interests import (
    AliasSuggestionArgsSchema,
    AliasSuggestionQueryArgsSchema,
    AliasSuggestionSchema,
)
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
    @blp.alt_response(403, schema=ErrorSchema, description="Not a site administrator")
    @blp.alt_response(409, schema=ErrorSchema, description="The alias exists")
    def post(self, args: dict[str, Any]) -> Any:
        """Add an alias (site administrators only; organizers suggest one instead)."""
        session = db_session()
        row = aliases.add_alias(session, current_user(), **args)
        session.commit()
        return {"alias": row.alias, "interest": row.interest.name}


@blp.route("/aliases/<path:alias>")
class AliasByName(MethodView):
    """One added alias."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(204)
    @blp.alt_response(403, schema=ErrorSchema, description="Not a site administrator")
    @blp.alt_response(404, schema=ErrorSchema, description="No such alias")
    @blp.alt_response(409, schema=ErrorSchema, description="A built-in alias")
    def delete(self, alias: str) -> None:
        """Remove an alias (site administrators only): the word means itself again."""
        session = db_session()
        aliases.remove_alias(session, current_user(), alias)
        session.commit()


@blp.route("/aliases/suggestions")
class AliasSuggestions(MethodView):
    """Aliases organizers propose, for site administrators to accept or reject."""

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(AliasSuggestionQueryArgsSchema, location="query")
    @blp.response(200, AliasSuggestionSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: PaginationParameters) -> Any:
        """Suggestions, oldest first: every one for administrators, one's own for others."""
        session = db_session()
        stmt = aliases.suggestions_query(current_user(), status=args["status"])
        return paginate(session, stmt, pagination_parameters)

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(AliasSuggestionArgsSchema)
    @blp.response(201, AliasSuggestionSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="Not a group organizer")
    @blp.alt_response(409, schema=ErrorSchema, description="Already an alias or already suggested")
    def post(self, args: dict[str, Any]) -> Any:
        """Suggest an alias of an interest people use (group organizers)."""
        session = db_session()
        row = aliases.suggest_alias(session, current_user(), **args)
        session.commit()
        return row


def _decide(suggestion_id: int, *, accept: bool) -> Any:
    session = db_session()
    row, _alias = aliases.decide_suggestion(
        session, current_user(), suggestion_id, accept=accept, now=utcnow()
    )
    session.commit()
    return row


@blp.route("/aliases/suggestions/<int:suggestion_id>/accept")
class AcceptSuggestion(MethodView):
    """An administrator's yes."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(200, AliasSuggestionSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="Not a site administrator")
    @blp.alt_response(404, schema=ErrorSchema, description="No such suggestion")
    @blp.alt_response(409, schema=ErrorSchema, description="Already decided, or no longer valid")
    def post(self, suggestion_id: int) -> Any:
        """Accept: the alias is added (under the rules of POST /aliases)."""
        return _decide(suggestion_id, accept=True)


@blp.route("/aliases/suggestions/<int:suggestion_id>/reject")
class RejectSuggestion(MethodView):
    """An administrator's no."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(200, AliasSuggestionSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="Not a site administrator")
    @blp.alt_response(404, schema=ErrorSchema, description="No such suggestion")
    @blp.alt_response(409, schema=ErrorSchema, description="Already decided")
    def post(self, suggestion_id: int) -> Any:
        """Reject: nothing changes but the suggestion's status."""
        return _decide(suggestion_id, accept=False)
