"""The access rule alone (domain/access.py): relation x visibility -> rights, no app."""

from __future__ import annotations

import pytest

from scheduler.domain.access import (
    Relation,
    Visibility,
    default_visibility,
    gathering_access,
    listed_visibilities,
    shown_name,
    visibility_problem,
)

R = Relation
INSIDERS = (R.MEMBER, R.ORGANIZER)
OUTSIDE = (R.SIGNED_OUT, R.OUTSIDER, R.PENDING)


@pytest.mark.parametrize("relation", list(Relation))
@pytest.mark.parametrize("visibility", list(Visibility))
def test_in_a_group_members_see_everything_and_only_organizers_manage(relation, visibility):
    rights = gathering_access(relation, visibility, in_group=True)
    insider = relation in INSIDERS
    assert rights.see == (insider or visibility != Visibility.MEMBERS)
    assert rights.listed == (insider or visibility == Visibility.PUBLIC)
    assert rights.see_location == rights.see_attendees == rights.see_availability == insider
    assert rights.answer == insider
    assert rights.manage == (relation == R.ORGANIZER)
    assert rights.members_only == (rights.see and not insider)
    assert (visibility.value in listed_visibilities(relation)) == rights.listed


@pytest.mark.parametrize("relation", [R.SIGNED_OUT, R.OUTSIDER, R.ORGANIZER])
def test_outside_a_group_the_place_is_public_and_poll_answers_go_to_who_answered(relation):
    for visibility in (Visibility.PUBLIC, Visibility.UNLISTED):
        rights = gathering_access(relation, visibility, in_group=False)
        assert rights.see and rights.see_location and not rights.members_only
        assert rights.listed == (visibility == Visibility.PUBLIC or relation == R.ORGANIZER)
        assert rights.answer == (relation != R.SIGNED_OUT)
        assert rights.see_availability == (relation == R.ORGANIZER)
    answered = gathering_access(R.OUTSIDER, Visibility.PUBLIC, in_group=False, answered=True)
    assert answered.see_availability


def test_defaults_and_refusals():
    assert default_visibility(True) == Visibility.MEMBERS
    assert default_visibility(False) == Visibility.PUBLIC
    assert visibility_problem("members", in_group=False)
    assert visibility_problem("secret", in_group=True)
    assert visibility_problem("unlisted", in_group=False) is None


def test_a_hidden_name_shows_only_to_its_owner_and_organizers():
    hidden = {"shares_name": False, "anonymous": "A Kindred member"}
    assert shown_name("Sam", is_viewer=False, viewer_manages=False, **hidden) == "A Kindred member"
    assert shown_name("Sam", is_viewer=True, viewer_manages=False, **hidden) == "Sam"
    assert shown_name("Sam", is_viewer=False, viewer_manages=True, **hidden) == "Sam"
