"""Interest tag normalisation: people should converge on the same words."""

from __future__ import annotations

import re
import unicodedata

from scheduler.domain.errors import InvalidInput

MAX_INTEREST_LENGTH = 60
MAX_INTERESTS = 30

_SPACES = re.compile(r"\s+")


def normalise_interest(raw: str) -> str:
    """Lower-case, NFKC-normalise, collapse whitespace: "  Radio  Astronomy" → "radio astronomy"."""
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch.isspace())
    return _SPACES.sub(" ", text).strip().casefold()


def normalise_interests(raw: list[str], *, field: str = "interests") -> list[str]:
    """Normalise and de-duplicate a list of tags, keeping first-seen order."""
    if len(raw) > MAX_INTERESTS:
        raise InvalidInput(
            "At most %(count)s interests are allowed.", count=MAX_INTERESTS, field=field
        )
    seen: dict[str, None] = {}
    for item in raw:
        tag = normalise_interest(item)
        if not tag:
            raise InvalidInput("Interests cannot be empty.", field=field)
        if len(tag) > MAX_INTEREST_LENGTH:
            raise InvalidInput(
                "Each interest is at most %(count)s characters.",
                count=MAX_INTEREST_LENGTH,
                field=field,
            )
        seen.setdefault(tag, None)
    return list(seen)


# Short or alternative spellings people type, mapped to the tag everyone should converge on.
# Organizers add more at runtime (InterestAlias rows); these hold on every installation.
BUILTIN_ALIASES: dict[str, str] = {
    "astro": "astronomy",
    "ml": "machine learning",
    "ai": "artificial intelligence",
    "js": "javascript",
    "ts": "typescript",
    "py": "python",
    "golang": "go",
    "k8s": "kubernetes",
    "diy": "do it yourself",
    "d&d": "dungeons & dragons",
    "dnd": "dungeons & dragons",
    "rpg": "role-playing games",
    "sci-fi": "science fiction",
    "scifi": "science fiction",
    "ham radio": "amateur radio",
    "photo": "photography",
}


def apply_aliases(names: list[str], aliases: dict[str, str] | None = None) -> list[str]:
    """Map normalised tags through the aliases (built-in, then `aliases`), de-duplicated."""
    table = {**BUILTIN_ALIASES, **(aliases or {})}
    seen: dict[str, None] = {}
    for name in names:
        seen.setdefault(table.get(name, name), None)
    return list(seen)
