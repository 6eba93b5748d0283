"""Which language a request is answered in, and Flask-Babel wired to Kindred's catalogues.

Pages and the API's messages follow the signed-in person's locale, else the browser's
`Accept-Language`; both the page session and an API bearer token count as signed in.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, has_request_context, request
from flask_babel import Babel, refresh
from flask_babel import gettext as flask_gettext

from scheduler.domain import language
from scheduler.domain.errors import KindredError


def current_locale() -> str:
    """The locale of this request as a Kindred locale code ('de'), the one Flask-Babel
    selects: the signed-in person's, else the browser's, else English."""
    if not has_request_context():
        return language.DEFAULT_LOCALE
    if "kindred_locale" in g:
        return g.kindred_locale  # type: ignore[no-any-return]
    user = _signed_in_user()
    if user is not None and getattr(user, "locale", None):
        locale = language.normalise_locale(user.locale)
    else:
        locale = language.negotiate_locale(request.headers.get("Accept-Language"))
        g.kindred_locale_from_header = True
    g.kindred_locale = locale
    return locale


def browser_locale() -> str:
    """What the browser asks for, whoever is signed in (a new account starts with it)."""
    return language.negotiate_locale(request.headers.get("Accept-Language"))


def use_locale(locale: str) -> None:
    """Answer the rest of this request in `locale` (after the person changed theirs)."""
    g.kindred_locale = language.normalise_locale(locale)
    g.pop("kindred_catalogue", None)
    refresh()  # Flask-Babel caches the locale per request


def _signed_in_user() -> Any:
    user = request.environ.get("kindred.api_user")
    if user is not None:
        return user
    if request.path.startswith("/api/"):
        from scheduler.api.auth import bearer_token

        if bearer_token(request.headers.get("Authorization", "")) is None:
            return None
        from scheduler.api.auth import current_user

        try:
            return current_user()
        except KindredError:
            return None
    from scheduler.web.auth import page_user

    return page_user()


def error_text(exc: KindredError) -> str:
    """A domain error's message in the request's language."""
    return exc.translated(flask_gettext)


def _catalogue() -> Any:
    catalogue = g.get("kindred_catalogue")
    if catalogue is None:
        catalogue = g.kindred_catalogue = language.translations(current_locale())
    return catalogue


# a count in each of the plural categories scripts ask for (Intl.PluralRules), in the request's
# language: 1 is "one", 2 "other", a million "many" where a language has it (French, Spanish)
_PLURAL_SAMPLES = (("one", 1), ("other", 2), ("many", 1_000_000))


def plural_forms(singular: str, plural: str) -> dict[str, str]:
    """A plural text's forms for a script, by plural category, `{count}` where its count goes
    (the script writes it in): `ngettext` would put a number there."""
    catalogue = _catalogue()
    return {
        category: catalogue.ngettext(singular, plural, count).replace("%(num)s", "{count}")
        for category, count in _PLURAL_SAMPLES
    }


def _vary_on_language(response: Response) -> Response:
    # a signed-out answer chosen by Accept-Language must not be served from a shared cache
    # to a browser asking for another language
    if g.get("kindred_locale_from_header"):
        response.vary.add("Accept-Language")
    return response


def init_language(app: Flask) -> None:
    """Flask-Babel on the package's catalogues, and `<html lang dir>` for every template."""
    app.after_request(_vary_on_language)
    Babel(
        app,
        locale_selector=current_locale,
        default_translation_directories=str(language.TRANSLATIONS_DIR),
        default_locale=language.DEFAULT_LOCALE,
    )
    # Templates look texts up in the request's catalogue, found once per request: Flask-Babel's
    # own lookup walks its context on every call (~10 us), and a page of 500 attendees or a
    # poll grid calls it hundreds of times.
    app.jinja_env.install_gettext_callables(
        gettext=lambda text: _catalogue().gettext(text),
        ngettext=lambda singular, plural, n: language.counted(
            _catalogue(), current_locale(), singular, plural, n
        ),
        newstyle=True,
    )
    app.jinja_env.globals.update(
        plural_forms=plural_forms,
        page_locale=current_locale,
        text_direction=lambda: language.text_direction(current_locale()),
        locale_names=language.LOCALE_NAMES,
    )
