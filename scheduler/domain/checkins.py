"""Check-ins: which times to propose to two people, and when a habit's next one falls.

Pure: times in, times out (aware UTC datetimes).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

PROPOSAL_COUNT = 3
HORIZON_DAYS = 14
# an evening in someone's own zone: a start at or after EVENING_START whose end is by EVENING_END
EVENING_START = time(18, 0)
EVENING_END = time(21, 30)
# failing a shared evening, waking hours in both zones
DAY_START = time(8, 0)
DAY_END = time(22, 0)


def _within(moment: datetime, minutes: int, zone: str, start: time, end: time) -> bool:
    local = moment.astimezone(ZoneInfo(zone))
    finish = (local + timedelta(minutes=minutes)).time()
    return local.date() == (local + timedelta(minutes=minutes)).date() and (
        start <= local.time() and finish <= end
    )


def _covered(moment: datetime, minutes: int, spans: Sequence[tuple[datetime, datetime]]) -> bool:
    end = moment + timedelta(minutes=minutes)
    return any(s <= moment and end <= e for s, e in spans)


def propose_times(
    now: datetime,
    zones: tuple[str, str],
    minutes: int,
    *,
    free: tuple[Sequence[tuple[datetime, datetime]], Sequence[tuple[datetime, datetime]]] = (
        (),
        (),
    ),
) -> list[datetime]:
    """Up to PROPOSAL_COUNT starts over the next HORIZON_DAYS (from tomorrow), each on a
    different day, on the half hour: first where both painted themselves available (`free`,
    each person's spans), then evenings in both zones, then waking hours in both."""
    first = (now + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    candidates = [first + timedelta(minutes=30 * step) for step in range(HORIZON_DAYS * 48)]

    def both_free(c: datetime) -> bool:
        return all(free) and all(_covered(c, minutes, spans) for spans in free)

    def evening(c: datetime) -> bool:
        return all(_within(c, minutes, z, EVENING_START, EVENING_END) for z in zones)

    def awake(c: datetime) -> bool:
        return all(_within(c, minutes, z, DAY_START, DAY_END) for z in zones)

    chosen: list[datetime] = []
    days: set[object] = set()
    for fits in (
        lambda c: both_free(c) and awake(c),
        evening,
        awake,
    ):
        for candidate in candidates:
            if len(chosen) >= PROPOSAL_COUNT:
                break
            day = candidate.astimezone(ZoneInfo(zones[0])).date()
            if day in days or not fits(candidate):
                continue
            # spread the days: every other day at least
            days.update({day, day - timedelta(days=1), day + timedelta(days=1)})
            chosen.append(candidate.astimezone(UTC))
    return sorted(chosen)


def next_habit_times(previous_start: datetime, every_weeks: int, now: datetime) -> list[datetime]:
    """The next check-in of a habit: the same weekday and time `every_weeks` after the last
    one (moved on by whole periods if that has passed), and the day before and after."""
    step = timedelta(weeks=every_weeks)
    nominal = previous_start + step
    while nominal - timedelta(days=1) <= now:
        nominal += step
    return [nominal - timedelta(days=1), nominal, nominal + timedelta(days=1)]
