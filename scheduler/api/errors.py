"""Errors: the one JSON shape for every 4xx and 5xx of the API, and an error page for people.

{"code": 422, "status": "Unprocessable Entity", "error": "validation_error",
 "message": "email: Not a valid email address.", "errors": {"email": ["..."]}}
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_smorest import Api, abort
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from scheduler.domain.errors import KindredError
from scheduler.extensions import current_services
from scheduler.schemas.common import ErrorSchema

log = logging.getLogger(__name__)

_ERROR_KINDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
}
# werkzeug's descriptions of the statuses (shown when nothing more precise is known), for the
# catalogues: a description is translated where it is shown
HTTP_DESCRIPTIONS = (
    lazy_gettext("The browser (or proxy) sent a request that this server could not understand."),
    lazy_gettext(
        "The server could not verify that you are authorized to access the URL requested. You "
        "either supplied the wrong credentials (e.g. a bad password), or your browser doesn't "
        "understand how to supply the credentials required."
    ),
    lazy_gettext(
        "You don't have the permission to access the requested resource. It is either "
        "read-protected or not readable by the server."
    ),
    lazy_gettext(
        "The requested URL was not found on the server. If you entered the URL manually please "
        "check your spelling and try again."
    ),
    lazy_gettext("The method is not allowed for the requested URL."),
    lazy_gettext(
        "A conflict happened while processing the request. The resource might have been "
        "modified while the request was being processed."
    ),
    lazy_gettext(
        "The requested URL is no longer available on this server and there is no forwarding "
        "address. If you followed a link from a foreign page, please contact the author of this "
        "page."
    ),
    lazy_gettext("The data value transmitted exceeds the capacity limit."),
    lazy_gettext("The server does not support the media type transmitted in the request."),
    lazy_gettext(
        "The request was well-formed but was unable to be followed due to semantic errors."
    ),
    lazy_gettext("This user has exceeded an allotted request count. Try again later."),
    lazy_gettext(
        "The server encountered an internal error and was unable to complete your request. "
        "Either the server is overloaded or there is an error in the application."
    ),
    lazy_gettext(
        "The server is temporarily unable to service your request due to maintenance downtime "
        "or capacity problems. Please try again later."
    ),
)


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """webargs/marshmallow nested messages → {"poll.window_end": ["..."]}, in the request's
    language (scheduler/schemas/messages.py translates those with placeholders as they are
    made; those without, e.g. the schema's "Unknown field.", are looked up here)."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            # webargs groups messages by location; the field name is what a user needs
            if not prefix and key in ("json", "query", "form", "headers", "view_args", "files"):
                name = ""
            elif key == "_schema":
                name = prefix or "_schema"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            for field, texts in flatten_messages(value, name).items():
                flat.setdefault(field, []).extend(texts)
    elif isinstance(messages, list | tuple):
        for item in messages:
            if isinstance(item, dict | list | tuple):
                for field, texts in flatten_messages(item, prefix).items():
                    flat.setdefault(field, []).extend(texts)
            else:
                flat.setdefault(prefix or "_schema", []).append(_(str(item)))
    else:
        flat.setdefault(prefix or "_schema", []).append(_(str(messages)))
    return flat


def error_body(
    code: int, message: str, errors: dict[str, list[str]] | None = None, kind: str | None = None
) -> dict[str, Any]:
    """Build the error payload."""
    body: dict[str, Any] = {
        "code": code,
        "status": HTTP_STATUS_CODES.get(code, "Error"),
        "error": kind or _ERROR_KINDS.get(code, "error"),
        "message": message,
    }
    if errors:
        body["errors"] = errors
    return body


def _invalid_json(messages: Any) -> bool:
    """webargs' answer to a body that is not JSON."""
    return isinstance(messages, dict) and messages.get("json") == ["Invalid JSON body."]


def _summary(errors: dict[str, list[str]]) -> str:
    parts = [f"{field}: {' '.join(texts)}" for field, texts in errors.items()]
    return "; ".join(parts)[:1000] or _("Invalid input.")


class KindredApi(Api):
    """flask-smorest Api whose errors all take the one shape."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Any:  # type: ignore[override]
        """HTTP errors from routing, webargs and abort()."""
        code = error.code or 500
        # werkzeug's, or one of ours (CsrfFailed's is a lazy string): in the request's language
        description = _(str(error.description)) if error.description else ""
        if not _wants_json():
            return render_error_page(code, description)
        data = getattr(error, "data", None) or {}
        errors: dict[str, list[str]] = {}
        if "messages" in data:
            errors = flatten_messages(data["messages"])
        elif "errors" in data:
            errors = flatten_messages(data["errors"])
        if code == 400 and (data.get("unreadable_json") or _invalid_json(data.get("messages"))):
            message = _("The request body is not valid JSON.")
        elif errors:
            message = _summary(errors)
        else:
            message = data.get("message") or description or status_text(code)
        if code >= 500:
            message = _("Something went wrong on our side; it has been logged.")
        body = error_body(code, message, errors or None)
        headers = data.get("headers") or {}
        return body, code, headers


def status_text(code: int) -> str:
    """An HTTP status's name ("Not Found") in the request's language, for people."""
    names = {
        400: _("Bad Request"),
        401: _("Unauthorized"),
        403: _("Forbidden"),
        404: _("Not Found"),
        405: _("Method Not Allowed"),
        409: _("Conflict"),
        410: _("Gone"),
        413: _("Request Entity Too Large"),
        415: _("Unsupported Media Type"),
        422: _("Unprocessable Entity"),
        429: _("Too Many Requests"),
        500: _("Internal Server Error"),
        503: _("Service Unavailable"),
    }
    return names.get(code) or HTTP_STATUS_CODES.get(code, "") or _("Error")


def render_error_page(code: int, message: str) -> tuple[str, int]:
    """A friendly page for an error status, for people (programs get the JSON shape)."""
    return render_template("error.html", code=code, title=status_text(code), message=message), code


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


class _TooManyDigits:
    """Stands in for an integer too long for int() while looking for the field holding it."""


def _int_or_marker(digits: str) -> int | _TooManyDigits:
    try:
        return int(digits)
    except ValueError:
        return _TooManyDigits()


def _fields_holding(value: Any, marker: type) -> list[str]:
    """Dotted names of the fields (list items by index) whose value is an instance of marker."""
    found: list[str] = []
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:  # no recursion: the body may nest as deep as the parser allowed
        name, item = pending.pop()
        if isinstance(item, marker):
            found.append(name or "_schema")
        elif isinstance(item, dict | list):
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            pending.extend((f"{name}.{key}" if name else str(key), child) for key, child in pairs)
    return sorted(found)


def refuse_unreadable_json() -> None:
    """A JSON body that Python's parser cannot turn into values is a 4xx, not a crash.

    webargs turns syntax errors into 400, but two kinds of valid-looking JSON make the standard
    parser raise something else, deep inside the view: nesting deeper than the recursion limit
    (RecursionError) and an integer of more digits than int() converts (ValueError). Checked
    once per JSON request, before any view: parsing twice costs 3 us for a gathering's body,
    0.4 ms for 500 availability intervals.
    """
    if not request.is_json:
        return
    body = request.get_data(cache=True)
    try:
        json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return  # webargs answers these itself: "The request body is not valid JSON."
    except RecursionError:
        abort(
            400,
            errors={"_schema": [_("Invalid JSON body: it nests too deeply.")]},
            unreadable_json=True,
        )
    except ValueError:
        fields = _fields_holding(json.loads(body, parse_int=_int_or_marker), _TooManyDigits)
        too_long = _("Number has too many digits.")
        abort(422, errors={field: [too_long] for field in fields or ["_schema"]})


def register_error_handlers(app: Flask) -> None:
    """Domain errors and crashes → the error shape (JSON) or an error page (HTML)."""
    app.before_request(refuse_unreadable_json)

    @app.errorhandler(KindredError)
    def _domain_error(exc: KindredError) -> Any:
        text = exc.translated(_)
        errors = {exc.field: [text]} if exc.field else None
        if not _wants_json():
            return render_error_page(exc.status, text)
        message = f"{exc.field}: {text}" if exc.field else text
        response: Response = jsonify(error_body(exc.status, message, errors, exc.code))
        response.status_code = exc.status
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="kindred"'
        return response

    @app.errorhandler(InternalServerError)
    def _crash(exc: InternalServerError) -> Any:
        original = getattr(exc, "original_exception", None)
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=original)
        try:
            current_services().db.session.rollback()
        except Exception:  # pragma: no cover - the database itself may be the problem
            log.exception("rollback after an error failed")
        if not _wants_json():
            return render_error_page(
                500, _("Something went wrong on our side; it has been logged.")
            )
        response = jsonify(
            error_body(500, _("Something went wrong on our side; it has been logged."))
        )
        response.status_code = 500
        return response
