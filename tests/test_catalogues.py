"""The message catalogues: every text in the code and templates is in them, every catalogue
is complete (no untranslated or fuzzy entry), and translations keep their placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from scheduler.domain.language import SUPPORTED_LOCALES, TRANSLATIONS_DIR

ROOT = Path(__file__).resolve().parents[1]
TRANSLATED = [locale for locale in SUPPORTED_LOCALES if locale != "en"]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|\{(\w*)\}")


def _catalogue(path: Path, locale: str | None = None):
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def _ids(catalogue) -> set[str]:
    return {
        message.id if isinstance(message.id, str) else message.id[0]
        for message in catalogue
        if message.id
    }


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """What `make messages` would extract from the code and templates now."""
    pot = tmp_path_factory.mktemp("messages") / "messages.pot"
    CommandLineInterface().run(
        ["pybabel", "--quiet", "extract", "-F", str(ROOT / "babel.cfg"), "-o", str(pot), str(ROOT)]
    )
    return _ids(_catalogue(pot))


def test_extraction_finds_the_texts(extracted: set[str]) -> None:
    # a canary from a template, the Python code and a domain error each
    assert {"Language", "Profile saved.", "Name cannot be empty."} <= extracted


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_text_is_in_the_catalogue(extracted: set[str], locale: str) -> None:
    catalogue = _catalogue(TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po", locale)
    missing = sorted(extracted - _ids(catalogue))
    assert not missing, f"run `make messages` and translate: {missing[:20]}"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_catalogue_is_complete_and_keeps_placeholders(locale: str) -> None:
    catalogue = _catalogue(TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po", locale)
    problems = []
    for message in catalogue:
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        if message.fuzzy:
            problems.append(("fuzzy", ids[0]))
        if not all(strings) or (len(ids) > 1 and len(strings) != catalogue.num_plurals):
            problems.append(("untranslated", ids[0]))
            continue
        wanted = {
            name for match in PLACEHOLDER.finditer(ids[-1]) for name in match.groups() if name
        }
        for text in strings:
            found = {
                name for match in PLACEHOLDER.finditer(text) for name in match.groups() if name
            }
            # a singular form may say "one" in words instead of %(num)d
            if found != wanted and not (len(ids) > 1 and found == wanted - {"num"}):
                problems.append(("placeholders", ids[0], text))
    assert not problems, problems[:20]


@pytest.mark.parametrize("locale", TRANSLATED)
def test_compiled_catalogues_are_current(locale: str) -> None:
    source = TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po"
    compiled = source.with_suffix(".mo")
    assert compiled.exists() and compiled.stat().st_mtime >= source.stat().st_mtime, (
        "compile the catalogues: make install"
    )
