"""Recommendation scoring: pure functions over plain facts, no database and no clock.

An item (group or gathering) scores by the interests it shares with me, each weighted by how
rare it is (inverse document frequency), plus a boost for people I have met who are in it,
plus a little for free seats. Full gatherings with a long waitlist sink below everything open.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.domain.language import DEFAULT_LOCALE, translate, translate_plural

# a tag used by at most this share of everything (or this few things) counts as "rare"
RARE_SHARE = 0.01
RARE_MIN_USES = 5
MET_WEIGHT = 1.5
MET_CAP = 5
SEATS_WEIGHT = 0.25
# full with a waitlist at least this long: the item sinks below every open item
LONG_WAITLIST = 5
FULL_FACTOR = 0.5
SINK_FACTOR = 0.05


@dataclass(frozen=True)
class InterestWeights:
    """IDF weights of the interests one person holds: name → weight, plus what is rare."""

    weights: Mapping[str, float]
    rare: frozenset[str]

    def weight(self, name: str) -> float:
        """The weight of one shared interest (0 for an interest I don't hold)."""
        return self.weights.get(name, 0.0)


def interest_weights(usage: Mapping[str, int], total: int) -> InterestWeights:
    """IDF weights from how many users, groups and gatherings use each tag out of `total`."""
    total = max(total, 1)
    weights: dict[str, float] = {}
    rare: set[str] = set()
    for name, count in usage.items():
        count = max(count, 1)
        weights[name] = math.log((total + 1) / count) + 1.0
        if count <= max(RARE_MIN_USES, RARE_SHARE * total):
            rare.add(name)
    return InterestWeights(weights=weights, rare=frozenset(rare))


def interest_score(shared: Iterable[str], weights: InterestWeights) -> float:
    """The summed rarity weight of the shared interests."""
    return sum(weights.weight(name) for name in shared)


@dataclass(frozen=True)
class Candidate:
    """What is known about one recommendable item; `capacity` None means unlimited."""

    id: int
    shared_interests: Sequence[str]
    met_count: int = 0
    capacity: int | None = None
    going_count: int = 0
    waitlist_length: int = 0
    starts_at: datetime | None = None
    cancelled: bool = False


@dataclass(frozen=True)
class Scored:
    """A candidate with its score and the human reasons behind it."""

    candidate: Candidate
    score: float
    reasons: list[str] = field(default_factory=list)
    shared_interests: list[str] = field(default_factory=list)


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _shared_by_weight(candidate: Candidate, weights: InterestWeights) -> list[str]:
    return sorted(candidate.shared_interests, key=lambda n: (-weights.weight(n), n))


def candidate_score(
    candidate: Candidate, weights: InterestWeights, *, now: datetime
) -> float | None:
    """The score of one item, or None when it must not be recommended (cancelled or past).

    The one place the score is computed: `score_candidate` explains it, `rank` sorts by it.
    """
    if candidate.cancelled:
        return None
    if candidate.starts_at is not None and candidate.starts_at <= now:
        return None
    # summed in the explained order, so every path gives the same float
    score = interest_score(_shared_by_weight(candidate, weights), weights)
    if candidate.met_count:
        score += MET_WEIGHT * min(candidate.met_count, MET_CAP)
    if candidate.capacity is not None:
        left = max(0, candidate.capacity - candidate.going_count)
        if left > 0:
            score += SEATS_WEIGHT * min(1.0, left / candidate.capacity)
        elif candidate.waitlist_length >= LONG_WAITLIST:
            score *= SINK_FACTOR
        else:
            score *= FULL_FACTOR
    else:
        score += SEATS_WEIGHT
    return round(score, 4)


def score_candidate(
    candidate: Candidate,
    weights: InterestWeights,
    *,
    now: datetime,
    groups: bool = False,
    locale: str = DEFAULT_LOCALE,
) -> Scored | None:
    """Score one item and say why, in the reader's `locale`; None when it must not be
    recommended (cancelled or past). `groups`: the item is a group (people are "in it"),
    not a gathering (people are "going")."""
    score = candidate_score(candidate, weights, now=now)
    if score is None:
        return None
    shared = _shared_by_weight(candidate, weights)
    reasons = _reasons(candidate, shared, weights, groups=groups, locale=locale)
    return Scored(candidate=candidate, score=score, reasons=reasons, shared_interests=shared)


def _reasons(
    candidate: Candidate,
    shared: Sequence[str],
    weights: InterestWeights,
    *,
    groups: bool,
    locale: str,
) -> list[str]:
    reasons: list[str] = []
    rare = [n for n in shared if n in weights.rare]
    common = [n for n in shared if n not in weights.rare]
    if rare:
        reasons.append(
            translate_plural(
                locale,
                "shares the rare interest %(names)s",
                "shares the rare interests %(names)s",
                len(rare),
                names=_quoted(rare),
            )
        )
    if common and rare:
        reasons.append(
            translate_plural(
                locale,
                "also shares your interest %(names)s",
                "also shares your interests %(names)s",
                len(common),
                names=_quoted(common),
            )
        )
    elif common:
        reasons.append(
            translate_plural(
                locale,
                "shares your interest %(names)s",
                "shares your interests %(names)s",
                len(common),
                names=_quoted(common),
            )
        )
    if candidate.met_count and groups:
        reasons.append(
            translate_plural(
                locale,
                "%(num)s person you've met is in it",
                "%(num)s people you've met are in it",
                candidate.met_count,
            )
        )
    elif candidate.met_count:
        reasons.append(
            translate_plural(
                locale,
                "%(num)s person you've met is going",
                "%(num)s people you've met are going",
                candidate.met_count,
            )
        )
    if candidate.capacity is not None:
        left = max(0, candidate.capacity - candidate.going_count)
        waiting = candidate.waitlist_length
        if left > 0:
            reasons.append(
                translate_plural(locale, "%(num)s seat left", "%(num)s seats left", left)
            )
        elif waiting >= LONG_WAITLIST:
            reasons.append(
                translate_plural(
                    locale,
                    "full, %(num)s person on the waitlist",
                    "full, %(num)s people on the waitlist",
                    waiting,
                )
            )
        elif waiting:
            reasons.append(translate(locale, "full, %(count)s on the waitlist", count=waiting))
        else:
            reasons.append(translate(locale, "full: join the waitlist"))
    return reasons


def _ranked(
    candidates: Iterable[Candidate], weights: InterestWeights, now: datetime
) -> list[tuple[float, Candidate]]:
    far = datetime.max.replace(tzinfo=now.tzinfo)
    scored = [
        (score, c)
        for c in candidates
        if (score := candidate_score(c, weights, now=now)) is not None
    ]
    # best first; ties go to the sooner start, then the lower id
    scored.sort(key=lambda sc: (-sc[0], sc[1].starts_at or far, sc[1].id))
    return scored


def rank(
    candidates: Iterable[Candidate],
    weights: InterestWeights,
    *,
    now: datetime,
    groups: bool = False,
    locale: str = DEFAULT_LOCALE,
) -> list[Scored]:
    """Scored candidates, best first; ties go to the sooner start, then the lower id."""
    return rank_page(candidates, weights, now=now, groups=groups, locale=locale)[0]


def rank_page(
    candidates: Iterable[Candidate],
    weights: InterestWeights,
    *,
    now: datetime,
    groups: bool = False,
    locale: str = DEFAULT_LOCALE,
    start: int = 0,
    stop: int | None = None,
) -> tuple[list[Scored], int]:
    """`rank(...)[start:stop]` and how many ranked in all; only the slice is explained."""
    ranked = _ranked(candidates, weights, now)
    page = [
        explained
        for _, c in ranked[start:stop]
        if (explained := score_candidate(c, weights, now=now, groups=groups, locale=locale))
        is not None
    ]
    return page, len(ranked)


@dataclass(frozen=True)
class UsualSlot:
    """A group's habit: the local weekday, start time and length of its gatherings."""

    weekday: int  # Monday = 0
    start: time
    duration_minutes: int
    timezone: str


def usual_slot(past: Sequence[tuple[datetime, int, str]]) -> UsualSlot | None:
    """The most common (weekday, local start) of past gatherings given as (start, minutes, tz).

    Later gatherings win ties, so a group that moved its night is followed.
    """
    if not past:
        return None
    ordered = sorted(past, key=lambda p: p[0])
    local = [(start.astimezone(ZoneInfo(tz)), minutes, tz) for start, minutes, tz in ordered]
    counts = Counter((s.weekday(), s.time().replace(second=0, microsecond=0)) for s, _, _ in local)
    last_seen = {
        (s.weekday(), s.time().replace(second=0, microsecond=0)): i
        for i, (s, _, _) in enumerate(local)
    }
    weekday, start = max(counts, key=lambda k: (counts[k], last_seen[k]))
    matching = [
        (m, tz)
        for s, m, tz in local
        if (s.weekday(), s.time().replace(second=0, microsecond=0)) == (weekday, start)
    ]
    minutes, tz = matching[-1]
    return UsualSlot(weekday=weekday, start=start, duration_minutes=minutes, timezone=tz)


def proposed_window(
    slot: UsualSlot, *, now: datetime, margin: timedelta = timedelta(hours=2)
) -> tuple[datetime, datetime]:
    """A poll window around the group's usual time on its usual day, at least 6 days ahead.

    Six days leave people time to answer the poll before the evening comes.
    """
    tz = ZoneInfo(slot.timezone)
    local_now = now.astimezone(tz)
    day = local_now.date() + timedelta(days=6)
    day += timedelta(days=(slot.weekday - day.weekday()) % 7)
    start = datetime.combine(day, slot.start, tzinfo=tz)
    window_start = max(start - margin, now)
    window_end = start + timedelta(minutes=slot.duration_minutes) + margin
    return window_start.astimezone(now.tzinfo), window_end.astimezone(now.tzinfo)


def iso_week(moment: datetime) -> str:
    """The ISO week of a moment, e.g. "2026-W49": the period of a weekly digest."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def quiet_period(last_activity: datetime, now: datetime, weeks: int) -> int:
    """How many whole `weeks`-long quiet spells have passed since the last activity (0: none)."""
    if weeks <= 0 or now <= last_activity:
        return 0
    return int((now - last_activity) // timedelta(weeks=weeks))
