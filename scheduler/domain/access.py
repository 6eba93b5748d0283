"""Who may see and do what with a gathering: the one access rule, as a pure function.

A viewer stands in one relation to a gathering (`Relation`), computed once per request by
services/groups/access.py from their membership of its group (and whether they organize the
gathering itself). That relation and the gathering's `visibility` decide everything the
viewer may see and do (`GatheringAccess`). Every API view, page, feed and mail asks this
function; none compares ids itself.

The rule, for a gathering in a group:
- `members` gatherings exist only for the group's members and organizers (404 to anyone
  else); `public` and `unlisted` ones can be seen by anyone with the link, and only
  `public` ones appear in listings, feeds and recommendations open to outsiders;
- the place, who is coming, who is available when, answering the poll and RSVPs are for
  members and organizers; pending members are still outsiders;
- organizers (of the group, or the gathering's own organizer) manage it: edit, cancel,
  schedule, see the heatmap, mail status and attendees' emails.
Outside a group, `members` means nothing (refused on input), the place is for everyone,
signed-in people answer and RSVP, poll answers are shown to people who answered and the
organizer, and `unlisted` keeps it out of listings.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from scheduler.domain.errors import InvalidInput


class Relation(StrEnum):
    """A viewer's standing towards a gathering (through its group, if it has one)."""

    SIGNED_OUT = "signed_out"
    OUTSIDER = "outsider"  # signed in, not in the group (or: a gathering without a group)
    PENDING = "pending"  # asked to join a group that approves its members; not yet approved
    MEMBER = "member"
    ORGANIZER = "organizer"  # organizes the group, or the gathering itself


class Visibility(StrEnum):
    """Who a gathering is for."""

    PUBLIC = "public"
    MEMBERS = "members"
    UNLISTED = "unlisted"


VISIBILITIES = tuple(v.value for v in Visibility)


class JoinPolicy(StrEnum):
    """How people join a group."""

    OPEN = "open"
    APPROVAL = "approval"


class MemberRole(StrEnum):
    """A member's role in a group."""

    ORGANIZER = "organizer"
    MEMBER = "member"


class MemberState(StrEnum):
    """Where a membership stands."""

    MEMBER = "member"
    PENDING = "pending"


def default_visibility(in_group: bool) -> Visibility:
    """`members` in a group, `public` outside one."""
    return Visibility.MEMBERS if in_group else Visibility.PUBLIC


def visibility_problem(visibility: str, *, in_group: bool) -> InvalidInput | None:
    """Why `visibility` cannot be chosen for the gathering (the error to raise), or None."""
    if visibility not in VISIBILITIES:
        return InvalidInput("Must be one of public, members or unlisted.", field="visibility")
    if visibility == Visibility.MEMBERS and not in_group:
        return InvalidInput(
            "Only a gathering in a group can be for its members only.", field="visibility"
        )
    return None


@dataclass(frozen=True)
class GatheringAccess:
    """What one viewer may see and do with one gathering."""

    relation: Relation
    see: bool  # the gathering exists for them (else 404)
    listed: bool  # it appears in lists, feeds and recommendations they see
    see_location: bool
    see_attendees: bool  # who is coming (names); `manage` adds emails and "no"s
    see_availability: bool  # who is available when in its poll (ids, names, counts by person)
    answer: bool  # RSVP and answer its poll (the RSVP refusal itself is kindred_answer's)
    manage: bool  # edit, cancel, schedule; heatmap, mail status, attendees' emails

    @property
    def members_only(self) -> bool:
        """Seen, but its details are for members: the page says "members only"."""
        return self.see and not self.see_location


def gathering_access(
    relation: Relation, visibility: str, *, in_group: bool, answered: bool = False
) -> GatheringAccess:
    """The access rule (see the module docstring). `answered`: the viewer answered its poll."""
    manage = relation == Relation.ORGANIZER
    signed_in = relation != Relation.SIGNED_OUT
    if in_group:
        insider = relation in (Relation.MEMBER, Relation.ORGANIZER)
        see = insider or visibility != Visibility.MEMBERS
        return GatheringAccess(
            relation=relation,
            see=see,
            listed=insider or visibility == Visibility.PUBLIC,
            see_location=insider,
            see_attendees=insider,
            see_availability=insider,
            answer=insider,
            manage=manage,
        )
    return GatheringAccess(
        relation=relation,
        see=True,
        listed=manage or visibility != Visibility.UNLISTED,
        see_location=True,
        see_attendees=signed_in,
        see_availability=manage or (signed_in and answered),
        answer=signed_in,
        manage=manage,
    )


def may_manage_group(relation: Relation) -> bool:
    """Organizers approve, remove, promote and demote members, and see pending requests."""
    return relation == Relation.ORGANIZER


def listed_visibilities(relation: Relation) -> tuple[str, ...]:
    """The visibilities of a group's gatherings that appear in lists for this relation."""
    if relation in (Relation.MEMBER, Relation.ORGANIZER):
        return VISIBILITIES
    return (Visibility.PUBLIC.value,)


def shown_name(
    name: str, *, shares_name: bool, is_viewer: bool, viewer_manages: bool, anonymous: str
) -> str:
    """A person's name as a viewer sees it: their own always; a hidden name only by the
    organizers of the gathering at hand (who also see emails), else `anonymous`."""
    if shares_name or is_viewer or viewer_manages:
        return name
    return anonymous


def may_join_online(access: GatheringAccess, *, going: bool) -> bool:
    """The online link of a gathering is for its organizers and the people going (holding a
    seat): not for the waitlist until promoted, maybe, other members, outsiders, group feeds
    or other people's feeds."""
    return access.manage or (going and access.see)
