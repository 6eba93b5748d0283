"""Guests (+1s) and questions through the API: seats for whole parties, the strict FIFO
waitlist, changing one's guests, required and unknown questions, and the organizers' CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from scheduler.domain.spreadsheet import FORMULA_STARTS
from scheduler.services.gatherings.rsvp_links import rsvp_link


def future(days: int = 3) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


def create(api, organizer, **extra):
    body = {
        "title": "Supper club",
        "timezone": "Europe/Berlin",
        "duration_minutes": 120,
        "starts_at": future().isoformat(),
        **extra,
    }
    response = api.call("POST", "/api/v1/gatherings", organizer, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def rsvp(api, user, gathering_id, **body):
    return api.call("PUT", f"/api/v1/gatherings/{gathering_id}/rsvp", user, json=body)


def answer(api, user, gathering_id, response="yes", **body):
    reply = rsvp(api, user, gathering_id, response=response, **body)
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()


def shown(api, gathering_id, user=None):
    return api.call("GET", f"/api/v1/gatherings/{gathering_id}", user).get_json()


def attendees(api, gathering_id, user):
    response = api.call("GET", f"/api/v1/gatherings/{gathering_id}/attendees", user)
    assert response.status_code == 200, response.get_json()
    return {row["user_id"]: row for row in response.get_json()}


def test_a_party_takes_its_seats_or_waits_whole_and_the_waitlist_never_overtakes(api):
    org = api.signup("Olga")
    g = create(api, org, capacity=4, max_guests=2)
    assert g["max_guests"] == 2
    ann, ben, cid, dan = (api.signup(name) for name in ("Ann", "Ben", "Cid", "Dan"))

    assert answer(api, ann, g["id"], guests=2).items() >= {"state": "going", "guests": 2}.items()
    # 1 seat left: a party of 2 waits together, and a single person behind it waits too
    ben_answer = answer(api, ben, g["id"], guests=1)
    assert (ben_answer["state"], ben_answer["waitlist_position"]) == ("waitlisted", 1)
    assert answer(api, cid, g["id"])["state"] == "waitlisted"  # no overtaking Ben's party
    assert shown(api, g["id"])["going_count"] == 3
    assert shown(api, g["id"])["seats_left"] == 1

    # Ann brings one guest fewer: 2 seats free, Ben's party of 2 is seated, Cid still waits
    assert answer(api, ann, g["id"], guests=1)["state"] == "going"
    rows = attendees(api, g["id"], org)
    assert (rows[ben["id"]]["state"], rows[ben["id"]]["guests"]) == ("going", 1)
    assert rows[cid["id"]]["waitlist_position"] == 1
    assert shown(api, g["id"])["going_count"] == 4

    # Dan, waiting behind Cid, keeps his place whatever his party's size
    dan_answer = answer(api, dan, g["id"], guests=2)
    assert dan_answer["waitlist_position"] == 2
    assert answer(api, dan, g["id"], guests=0)["waitlist_position"] == 2

    # Ben leaves: his 2 seats go to Cid (1) then Dan (1), in order
    assert answer(api, ben, g["id"], "no")["guests"] == 0
    rows = attendees(api, g["id"], org)
    assert rows[cid["id"]]["state"] == rows[dan["id"]]["state"] == "going"
    assert shown(api, g["id"])["going_count"] == 4


def test_more_guests_while_going_are_refused_without_free_seats_and_the_seat_is_kept(api):
    org = api.signup()
    g = create(api, org, capacity=3, max_guests=3)
    ann, ben = api.signup(), api.signup()
    answer(api, ann, g["id"], guests=1)
    assert answer(api, ann, g["id"], guests=2)["going_count"] == 3  # the free seat: fine
    refused = rsvp(api, ann, g["id"], response="yes", guests=3)
    assert refused.status_code == 409
    assert "guests" in refused.get_json()["errors"]
    ann_now = attendees(api, g["id"], org)[ann["id"]]
    assert (ann_now["state"], ann_now["guests"]) == ("going", 2)
    # a plain "yes" again (a mail link, say) keeps the guests
    assert answer(api, ann, g["id"])["guests"] == 2
    # with someone waiting, a freed seat is theirs: Ann cannot take it back for a guest
    answer(api, ben, g["id"], guests=1)
    assert answer(api, ann, g["id"], guests=1)["going_count"] == 2
    ben_now = attendees(api, g["id"], org)[ben["id"]]
    assert ben_now["state"] == "waitlisted"  # his party of 2 does not fit the 1 free seat
    assert rsvp(api, ann, g["id"], response="yes", guests=2).status_code == 409


def test_guests_beyond_the_gatherings_limit_are_refused_naming_guests(api):
    org = api.signup()
    g = create(api, org, max_guests=1)
    person = api.signup()
    too_many = rsvp(api, person, g["id"], response="yes", guests=2)
    assert too_many.status_code == 422
    assert "guests" in too_many.get_json()["errors"]
    assert "at most 1 guest" in too_many.get_json()["message"]
    negative = rsvp(api, person, g["id"], response="yes", guests=-1)
    assert negative.status_code == 422 and "guests" in negative.get_json()["errors"]
    not_a_number = rsvp(api, person, g["id"], response="yes", guests="2")
    assert not_a_number.status_code == 422 and "guests" in not_a_number.get_json()["errors"]
    no_guests = create(api, org)
    assert no_guests["max_guests"] == 0
    refused = rsvp(api, person, no_guests["id"], response="yes", guests=1)
    assert refused.status_code == 422 and "no guests" in refused.get_json()["message"]


def test_capacity_cannot_drop_below_the_seats_guests_take(api):
    org = api.signup()
    g = create(api, org, capacity=5, max_guests=2)
    answer(api, api.signup(), g["id"], guests=2)
    lowered = api.call("PATCH", f"/api/v1/gatherings/{g['id']}", org, json={"capacity": 2})
    assert lowered.status_code == 422 and "capacity" in lowered.get_json()["errors"]
    ok = api.call("PATCH", f"/api/v1/gatherings/{g['id']}", org, json={"capacity": 3})
    assert ok.status_code == 200 and ok.get_json()["seats_left"] == 0


def test_raising_capacity_seats_waiting_parties_in_order_while_they_fit(api):
    org = api.signup()
    g = create(api, org, capacity=1, max_guests=2)
    first, party, single = api.signup(), api.signup(), api.signup()
    answer(api, first, g["id"])
    answer(api, party, g["id"], guests=2)
    answer(api, single, g["id"])
    api.call("PATCH", f"/api/v1/gatherings/{g['id']}", org, json={"capacity": 3})
    rows = attendees(api, g["id"], org)
    # 2 free seats: the party of 3 at the head does not fit, so nobody is seated
    assert [rows[u["id"]]["state"] for u in (party, single)] == ["waitlisted", "waitlisted"]
    api.call("PATCH", f"/api/v1/gatherings/{g['id']}", org, json={"capacity": 5})
    rows = attendees(api, g["id"], org)
    assert [rows[u["id"]]["state"] for u in (party, single)] == ["going", "going"]
    assert shown(api, g["id"])["going_count"] == 5


QUESTIONS = [
    {"text": "Any dietary needs?", "required": True},
    {"text": "Which book did you finish?"},
]


def test_required_questions_must_be_answered_to_say_yes(api):
    org = api.signup()
    g = create(api, org, questions=QUESTIONS)
    diet, book = g["questions"]
    assert diet == {"id": diet["id"], "text": "Any dietary needs?", "required": True}
    assert book["required"] is False
    person = api.signup()
    missing = rsvp(api, person, g["id"], response="yes")
    assert missing.status_code == 422
    assert f"answers.{diet['id']}" in missing.get_json()["errors"]
    blank = rsvp(api, person, g["id"], response="yes", answers={str(diet["id"]): "  "})
    assert blank.status_code == 422
    # maybe and no need no answers
    assert answer(api, person, g["id"], "maybe")["state"] == "maybe"
    going = answer(api, person, g["id"], answers={str(diet["id"]): "vegan"})
    assert going["state"] == "going"
    # answers are kept: a later plain yes needs none, and one answer can be added alone
    answer(api, person, g["id"], "maybe")
    assert answer(api, person, g["id"])["state"] == "going"
    answer(api, person, g["id"], answers={str(book["id"]): "Middlemarch"})
    rows = attendees(api, g["id"], org)
    assert rows[person["id"]]["answers"] == {
        str(diet["id"]): "vegan",
        str(book["id"]): "Middlemarch",
    }


def test_answers_are_for_organizers_only(api):
    org = api.signup()
    g = create(api, org, questions=QUESTIONS)
    diet_id = str(g["questions"][0]["id"])
    person, other = api.signup(), api.signup()
    answer(api, person, g["id"], answers={diet_id: "no nuts"})
    answer(api, other, g["id"], answers={diet_id: "none"})
    assert "answers" in attendees(api, g["id"], org)[person["id"]]
    assert all("answers" not in row for row in attendees(api, g["id"], other).values())
    assert attendees(api, g["id"], other)[person["id"]]["guests"] == 0


def test_unknown_question_and_too_long_answers_are_422_naming_the_field(api):
    org = api.signup()
    g = create(api, org, questions=QUESTIONS)
    diet_id = str(g["questions"][0]["id"])
    person = api.signup()
    unknown = rsvp(api, person, g["id"], response="yes", answers={diet_id: "x", "9999": "hi"})
    assert unknown.status_code == 422
    assert list(unknown.get_json()["errors"]) == ["answers.9999"]
    not_an_id = rsvp(api, person, g["id"], response="yes", answers={"diet": "x"})
    assert not_an_id.status_code == 422 and "answers.diet" in not_an_id.get_json()["errors"]
    too_long = rsvp(api, person, g["id"], response="yes", answers={diet_id: "x" * 2001})
    assert too_long.status_code == 422
    assert f"answers.{diet_id}" in too_long.get_json()["errors"]
    not_text = rsvp(api, person, g["id"], response="yes", answers={diet_id: 5})
    assert not_text.status_code == 422 and "answers" in str(not_text.get_json()["errors"])
    # nothing was recorded by the refused answers
    assert person["id"] not in attendees(api, g["id"], org)


def test_editing_questions_keeps_ids_and_drops_answers_to_removed_ones(api):
    org = api.signup()
    g = create(api, org, questions=QUESTIONS)
    diet, book = g["questions"]
    person = api.signup()
    answer(api, person, g["id"], answers={str(diet["id"]): "vegan", str(book["id"]): "Emma"})
    changed = api.call(
        "PATCH",
        f"/api/v1/gatherings/{g['id']}",
        org,
        json={
            "questions": [
                {"id": book["id"], "text": "Which book?", "required": True},
                {"text": "Bring a dish?"},
            ]
        },
    )
    assert changed.status_code == 200, changed.get_json()
    kept, added = changed.get_json()["questions"]
    assert kept == {"id": book["id"], "text": "Which book?", "required": True}
    assert added["id"] not in (diet["id"], book["id"])
    assert attendees(api, g["id"], org)[person["id"]]["answers"] == {str(book["id"]): "Emma"}
    bad = api.call(
        "PATCH",
        f"/api/v1/gatherings/{g['id']}",
        org,
        json={"questions": [{"id": 777, "text": "?"}]},
    )
    assert bad.status_code == 422 and "questions.0.id" in bad.get_json()["errors"]
    too_many_guests = api.call(
        "PATCH", f"/api/v1/gatherings/{g['id']}", org, json={"max_guests": 101}
    )
    assert (
        too_many_guests.status_code == 422 and "max_guests" in too_many_guests.get_json()["errors"]
    )


HOSTILE = [
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "@SUM(1,2)",
    "\t=1+1",
    "\r=1+1",
    'she said "hi", then left',
    "line one\nline two\r\nline three",
    "plain, with a comma",
]


def read_csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))


def unquoted(cell: str) -> str:
    """What a person typed, from a cell the export made spreadsheet-safe."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def test_attendees_csv_has_the_right_columns_and_neutralises_hostile_answers(api):
    org = api.signup("Olga")
    g = create(api, org, capacity=3, max_guests=2, questions=QUESTIONS)
    diet, book = (str(q["id"]) for q in g["questions"])
    people = [api.signup(f"Person {i}") for i in range(len(HOSTILE))]
    for person, text in zip(people, HOSTILE, strict=True):
        answer(
            api,
            person,
            g["id"],
            guests=1 if person is people[0] else 0,
            answers={diet: text, book: text},
        )
    hostile_name = api.signup('=HYPERLINK("http://evil")')
    answer(api, hostile_name, g["id"], "no")

    response = api.call("GET", f"/api/v1/gatherings/{g['id']}/attendees.csv", org)
    rows = read_csv(response)
    assert list(rows[0]) == [
        "name",
        "email",
        "state",
        "response",
        "guests",
        "waitlist_position",
        "Any dietary needs?",
        "Which book did you finish?",
    ]
    assert len(rows) == len(people) + 1
    by_email = {row["email"]: row for row in rows}
    for person, text in zip(people, HOSTILE, strict=True):
        row = by_email[person["email"]]
        assert unquoted(row["Any dietary needs?"]) == text
        assert unquoted(row["Which book did you finish?"]) == text
        # neutralised: no cell starts with a character a spreadsheet runs as a formula
        assert not row["Any dietary needs?"].startswith(FORMULA_STARTS)
    first = by_email[people[0]["email"]]
    assert (first["state"], first["guests"], first["waitlist_position"]) == ("going", "1", "")
    waiting = by_email[people[-1]["email"]]
    assert waiting["state"] == "waitlisted" and waiting["waitlist_position"] == str(len(people) - 2)
    declined = by_email[hostile_name["email"]]
    assert declined["state"] == "not_going"
    assert declined["name"] == '\'=HYPERLINK("http://evil")'


def test_attendees_csv_is_for_organizers_only(api):
    org = api.signup()
    g = create(api, org, questions=QUESTIONS)
    person = api.signup()
    answer(api, person, g["id"], answers={str(g["questions"][0]["id"]): "vegan"})
    url = f"/api/v1/gatherings/{g['id']}/attendees.csv"
    assert api.call("GET", url, person).status_code == 403
    assert api.call("GET", url).status_code == 401
    assert api.call("GET", "/api/v1/gatherings/999999/attendees.csv", org).status_code == 404


def test_a_series_passes_guests_and_questions_to_its_occurrences_and_all_future_answers(api):
    org = api.signup()
    g = create(api, org, recurrence="FREQ=WEEKLY;COUNT=3", max_guests=1, questions=QUESTIONS)
    occurrences = g["occurrences"]
    assert len(occurrences) == 3
    later = shown(api, occurrences[2]["id"])
    assert later["max_guests"] == 1
    assert [q["text"] for q in later["questions"]] == [q["text"] for q in QUESTIONS]
    diet_id = str(later["questions"][0]["id"])
    person = api.signup()
    reply = answer(
        api, person, occurrences[0]["id"], guests=1, answers={diet_id: "vegan"}, all_future=True
    )
    assert (reply["state"], reply["guests"]) == ("going", 1)
    for occurrence in occurrences:
        row = attendees(api, occurrence["id"], org)[person["id"]]
        assert (row["state"], row["guests"], row["answers"]) == ("going", 1, {diet_id: "vegan"})


def test_a_mail_link_cannot_say_yes_past_a_required_question_but_points_to_the_page(api, config):
    org = api.signup()
    g = create(api, org, questions=QUESTIONS)
    person = api.signup()
    link = rsvp_link(config, g["id"], person["id"], "yes").removeprefix(config.base_url)
    refused = api.client.post(link)
    assert refused.status_code == 422
    assert f'href="/g/{g["id"]}"' in refused.get_data(as_text=True)
    assert person["id"] not in attendees(api, g["id"], org)
    # once answered (on the page or the API), the same link works and keeps the answer
    diet_id = str(g["questions"][0]["id"])
    answer(api, person, g["id"], "maybe", answers={diet_id: "vegan"})
    assert api.client.post(link).status_code == 200
    row = attendees(api, g["id"], org)[person["id"]]
    assert (row["state"], row["answers"]) == ("going", {diet_id: "vegan"})


def test_ones_own_guests_and_answers_are_in_ones_data_export(api):
    org = api.signup()
    g = create(api, org, max_guests=1, questions=QUESTIONS)
    diet_id = str(g["questions"][0]["id"])
    person = api.signup()
    answer(api, person, g["id"], guests=1, answers={diet_id: "vegan"})
    exported = api.call("GET", "/api/v1/me/export", person).get_json()["rsvps"]
    assert [(r["gathering_id"], r["guests"], r["answers"]) for r in exported] == [
        (g["id"], 1, {diet_id: "vegan"})
    ]
