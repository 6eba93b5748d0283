"""Errors reach people in their language: every KindredError carries a literal English
template (which extraction puts in the catalogues) and its params, translated at the edge."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from datetime import datetime
from pathlib import Path

import pytest

import scheduler
from scheduler.domain import date_bounds
from scheduler.domain.errors import InvalidInput, KindredError, NotFound, Term
from scheduler.domain.language import translations
from scheduler.domain.recurrence import RecurrenceError, expand, parse_rule, weekly_rule
from scheduler.domain.timezones import zone

ROOT = Path(scheduler.__file__).resolve().parent
CHECKED = ("services", "domain")


def german(exc: KindredError) -> str:
    return exc.translated(translations("de").gettext)


def _require_catalogue() -> None:
    """The compiled catalogues (`make`) are what these tests read."""
    if not list((ROOT / "translations" / "de" / "LC_MESSAGES").glob("messages.mo")):
        pytest.fail("the de catalogue is not compiled: run `make` first")


def test_a_service_error_with_params_is_translated_through_the_catalogue():
    _require_catalogue()
    refused = NotFound("No gathering with id %(id)s.", id=42)
    assert refused.message == "No gathering with id 42."
    assert german(refused) == "Kein Treffen mit der ID 42."


def test_a_domain_error_raised_in_german():
    _require_catalogue()
    with pytest.raises(InvalidInput) as caught:
        zone("Mars/Olympus")
    assert caught.value.message == (
        "Unknown time zone 'Mars/Olympus'; use an IANA name such as Europe/Berlin."
    )
    assert caught.value.field == "timezone"
    assert german(caught.value) == (
        "Unbekannte Zeitzone 'Mars/Olympus'; gib einen IANA-Namen wie Europe/Berlin an."
    )


def test_a_rule_error_keeps_its_part_in_every_language():
    _require_catalogue()
    with pytest.raises(RecurrenceError) as caught:
        parse_rule("FREQ=WEEKLY;BYHOUR=9")
    assert caught.value.message.startswith("BYHOUR is not supported; supported parts are FREQ")
    assert german(caught.value).startswith("BYHOUR wird nicht unterstützt")
    assert caught.value.field == "recurrence"


def test_a_word_among_the_params_is_translated_too():
    _require_catalogue()
    # a Monday start for a rule that only ever falls on the 31st of February
    rule = parse_rule("FREQ=MONTHLY;INTERVAL=12;BYMONTHDAY=31;COUNT=3")
    with pytest.raises(RecurrenceError) as caught:
        expand(rule, datetime(2027, 2, 1, 19, 0), "Europe/Berlin")
    assert "(Monday)" in caught.value.message
    assert isinstance(caught.value.params["weekday"], Term)
    assert "(Montag)" in german(caught.value)


def test_english_stays_the_source_text():
    with pytest.raises(RecurrenceError) as caught:
        weekly_rule([7])
    assert caught.value.message == "weekday 7 is not a number from 0 (Monday) to 6 (Sunday)"
    assert caught.value.translated(translations("en").gettext) == caught.value.message


def test_out_of_range_names_the_bounds_it_checks():
    assert f"{date_bounds.EARLIEST:%Y-%m-%d} to {date_bounds.LATEST:%Y-%m-%d}" in (
        date_bounds.OUT_OF_RANGE
    )


# --------------------------------------------------------------------------- literal templates


def _error_classes() -> dict[str, type[KindredError]]:
    """Every KindredError subclass the services and domain define, by name."""
    for package in CHECKED:
        for info in pkgutil.walk_packages([str(ROOT / package)], f"scheduler.{package}."):
            importlib.import_module(info.name)
    found: dict[str, type[KindredError]] = {}
    pending: list[type[KindredError]] = [KindredError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found


def _takes_a_message(cls: type[KindredError]) -> bool:
    """Whether the class is built from a message (AddressAwaitsOwner builds its own)."""
    parameters = list(inspect.signature(cls.__init__).parameters)
    return len(parameters) > 1 and parameters[1] == "message"


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _sources() -> list[Path]:
    return sorted(path for package in CHECKED for path in (ROOT / package).rglob("*.py"))


def test_every_error_is_built_from_a_literal_template():
    """f-strings, names and concatenations are not extracted, so they would stay English."""
    classes = {name: cls for name, cls in _error_classes().items() if _takes_a_message(cls)}
    assert {"InvalidInput", "NotFound", "RecurrenceError", "LinkGone"} <= set(classes)
    offenders = []
    built = 0
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or _called_name(node) not in classes:
                continue
            built += 1
            first = node.args[0] if node.args else None
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                where = f"{path.relative_to(ROOT.parent)}:{node.lineno}"
                offenders.append(f"{where}: {ast.unparse(node)[:80]}")
            elif any(keyword.arg is None for keyword in node.keywords):
                offenders.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: **params")
    assert built > 150
    assert offenders == []


def test_classes_with_their_own_message_mark_it_for_extraction():
    """A message given in a class (super().__init__) is marked with N_, else it is lost."""
    offenders = []
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "__init__"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                offenders.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    assert offenders == []
