"""Check-ins: asking someone you have met, the answer, the habit, the refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from scheduler.models import Checkin, OutboxMessage
from scheduler.services.mail.checkin_mail import CATCH_UP_KIND, checkin_link
from scheduler.services.mail.renderers import render_outbox_message
from scheduler.services.tribe.checkins import owe_catch_up_nudges, propose_next
from tests.support.people import met


def ask(api, asker, invitee, **extra):
    return api.call("POST", "/api/v1/checkins", asker, json={"with": invitee["id"], **extra})


@pytest.fixture
def pair(api, session):
    ana = api.signup("Ana")
    ben = api.signup("Ben")
    api.call("PATCH", "/api/v1/me", ben, json={"discoverable": True})
    met(session, ana, ben)
    return ana, ben


def test_asking_someone_met_proposes_times_and_mails_them(api, session, pair):
    ana, ben = pair
    response = ask(api, ana, ben)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "proposed" and body["invitee"]["id"] == ben["id"]
    starts = [datetime.fromisoformat(p) for p in body["proposals"]]
    assert len(starts) == 3 and all(s > datetime.now(UTC) for s in starts)
    assert all(s < datetime.now(UTC) + timedelta(days=16) for s in starts)
    assert body["next_date"] == body["proposals"][0]
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "checkin_request"))
    assert [r.recipient_email for r in rows] == [ben["email"]]
    mine = api.call("GET", "/api/v1/me/checkins", ben).get_json()
    assert [c["id"] for c in mine] == [body["id"]]
    # one open at a time between the two
    assert ask(api, ana, ben).status_code == 409


def test_proposals_fall_in_both_evenings_when_zones_allow(api, session, pair):
    ana, ben = pair
    api.call("PATCH", "/api/v1/me", ana, json={"timezone": "Europe/Berlin"})
    api.call("PATCH", "/api/v1/me", ben, json={"timezone": "Europe/Lisbon"})
    body = ask(api, ana, ben).get_json()
    from zoneinfo import ZoneInfo

    for iso in body["proposals"]:
        for zone in ("Europe/Berlin", "Europe/Lisbon"):
            local = datetime.fromisoformat(iso).astimezone(ZoneInfo(zone))
            assert 18 <= local.hour < 22, (zone, local)


@pytest.mark.parametrize("case", ["never_met", "opted_out", "self", "nobody"])
def test_refused_unless_met_and_allowed(api, session, case):
    ana = api.signup("Ana")
    cid = api.signup("Cid")
    api.call("PATCH", "/api/v1/me", cid, json={"discoverable": True})
    target = {"id": 999999} if case == "nobody" else cid
    if case == "opted_out":
        met(session, ana, cid)
        api.call("PATCH", "/api/v1/me", cid, json={"allow_checkins": False})
    if case == "self":
        response = ask(api, ana, ana)
        assert response.status_code == 422 and "with" in str(response.get_json())
        return
    response = ask(api, ana, target)
    assert response.status_code == 403, response.get_json()


def test_the_setting_defaults_to_discoverable_and_can_be_chosen(api, session):
    ana, hid = api.signup("Ana"), api.signup("Hidden")
    met(session, ana, hid)
    assert api.call("GET", "/api/v1/me", hid).get_json()["allow_checkins"] is False
    assert ask(api, ana, hid).status_code == 403
    api.call("PATCH", "/api/v1/me", hid, json={"allow_checkins": True})
    assert api.call("GET", "/api/v1/me", hid).get_json()["allow_checkins"] is True
    assert ask(api, ana, hid).status_code == 201


def test_accepting_makes_a_gathering_of_the_two_with_invites(api, session, pair, app):
    ana, ben = pair
    body = ask(api, ana, ben).get_json()
    assert (
        api.call("POST", f"/api/v1/checkins/{body['id']}/accept", ana, json={"choice": 0})
    ).status_code == 403  # only the person asked picks
    response = api.call("POST", f"/api/v1/checkins/{body['id']}/accept", ben, json={"choice": 1})
    assert response.status_code == 200, response.get_json()
    accepted = response.get_json()
    assert accepted["status"] == "accepted"
    assert accepted["chosen_start"] == body["proposals"][1] == accepted["next_date"]
    gathering = api.call("GET", f"/api/v1/gatherings/{accepted['gathering_id']}", ben).get_json()
    assert gathering["starts_at"] == body["proposals"][1]
    assert gathering["visibility"] == "unlisted" and gathering["going_count"] == 2
    stranger = api.signup("Stranger")
    assert api.call("POST", f"/api/v1/checkins/{body['id']}/stop", stranger).status_code == 404


def test_the_mailed_link_accepts_in_one_click(api, client, session, pair, config):
    ana, ben = pair
    body = ask(api, ana, ben).get_json()
    url = checkin_link(config, body["id"], ben["id"], 2).removeprefix(config.base_url)
    page = client.get(url)
    assert page.status_code == 200 and b"data-accept" in page.data
    session.expire_all()
    assert session.get(Checkin, body["id"]).status == "proposed"  # a prefetch changes nothing
    done = client.post(url)
    assert done.status_code == 200 and b"data-accepted" in done.data
    session.expire_all()
    assert session.get(Checkin, body["id"]).status == "accepted"
    assert client.get("/checkins/answer/forged").status_code == 422


def test_two_declines_stop_the_same_person_asking_for_90_days(api, session, pair):
    ana, ben = pair
    for _ in range(2):
        body = ask(api, ana, ben).get_json()
        declined = api.call("POST", f"/api/v1/checkins/{body['id']}/decline", ben)
        assert declined.get_json()["status"] == "declined"
    refused = ask(api, ana, ben)
    assert refused.status_code == 403
    assert "twice" in refused.get_json()["message"]
    session.execute(update(Checkin).values(answered_at=datetime.now(UTC) - timedelta(days=91)))
    session.commit()
    assert ask(api, ana, ben).status_code == 201


def test_a_habit_proposes_the_next_one_after_the_last_ends_until_stopped(api, session, pair):
    ana, ben = pair
    body = ask(api, ana, ben, every_weeks=6).get_json()
    accepted = api.call(
        "POST", f"/api/v1/checkins/{body['id']}/accept", ben, json={"choice": 0}
    ).get_json()
    start = datetime.fromisoformat(accepted["chosen_start"])
    after = start + timedelta(hours=1)
    assert propose_next(session, now=after - timedelta(hours=2)) == 0  # not ended yet
    assert propose_next(session, now=after) == 1
    session.commit()
    assert propose_next(session, now=after) == 0  # once
    following = session.scalars(select(Checkin).where(Checkin.previous_id == body["id"])).one()
    nominal = start + timedelta(weeks=6)
    assert [datetime.fromisoformat(p) for p in following.proposals] == [
        nominal - timedelta(days=1),
        nominal,
        nominal + timedelta(days=1),
    ]
    assert following.every_weeks == 6
    stopped = api.call("POST", f"/api/v1/checkins/{following.id}/stop", ana).get_json()
    assert stopped["status"] == "stopped" and stopped["every_weeks"] is None


def test_bad_input_names_the_field(api, pair):
    ana, ben = pair
    for body, field in (
        ({"with": "x"}, "with"),
        ({"with": ben["id"], "every_weeks": 0}, "every_weeks"),
        ({}, "with"),
    ):
        response = api.call("POST", "/api/v1/checkins", ana, json=body)
        assert response.status_code == 422 and field in str(response.get_json()), body


def test_a_gentle_nudge_at_most_monthly_about_someone_not_seen_lately(api, session, app, config):
    ana, ben, cid = api.signup("Ana"), api.signup("Ben"), api.signup("Cid")
    for person in (ben, cid):
        api.call("PATCH", "/api/v1/me", person, json={"discoverable": True})
    met(session, ana, ben, days_ago=100)
    met(session, ana, ben, days_ago=80)
    met(session, ana, cid, days_ago=10)  # seen lately: no nudge about Cid
    now = datetime.now(UTC)
    # Ana about Ben only: Ben and Cid are not nudged about Ana, who does not allow check-ins
    assert owe_catch_up_nudges(session, now=now) == 1
    session.commit()
    rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == CATCH_UP_KIND)))
    about = {r.recipient_email: r.payload["other_name"] for r in rows}
    assert about == {ana["email"]: "Ben"}
    assert owe_catch_up_nudges(session, now=now + timedelta(days=1)) == 0  # this month: once
    mail = render_outbox_message(session, rows[0], config, now)
    assert mail is not None and "haven't caught up with" in mail.subject
    # an open check-in between them: no nudge next month either
    asked = ask(api, ana, ben)
    assert asked.status_code == 201
    session.expire_all()
    assert owe_catch_up_nudges(session, now=now + timedelta(days=32)) == 0
    # opting out withdraws what is owed
    api.call("PATCH", "/api/v1/me", ana, json={"checkin_nudges": False})
    session.expire_all()
    assert render_outbox_message(session, rows[0], config, now) is None


def test_check_ins_are_in_ones_data_and_go_with_the_account(api, session, pair):
    ana, ben = pair
    checkin = ask(api, ana, ben).get_json()
    data = api.call("GET", "/api/v1/me/export", ben).get_json()
    assert [(c["id"], c["with"], c["asked_by_me"]) for c in data["checkins"]] == [
        (checkin["id"], ana["id"], False)
    ]
    gone = api.call("DELETE", "/api/v1/me", ben, json={"password": "correct horse battery"})
    assert gone.status_code in (200, 204), gone.get_json()
    assert api.call("GET", "/api/v1/me/checkins", ana).get_json() == []
