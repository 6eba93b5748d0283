"""The mail about people waiting for approval: each organizer, at most once a day per group,
with approve links that work without signing in (and only for someone who still organizes)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from scheduler.models import GroupMember, OutboxMessage, utcnow
from scheduler.services.mail.membership_mail import KIND, owe_pending_request_mail
from scheduler.services.mail.renderers import render_outbox_message

SECRET = "test-secret-key-not-for-production"
BASE = "http://kindred.test"


def owe(session, now):
    owed = owe_pending_request_mail(session, now=now, base_url=BASE, secret_key=SECRET)
    session.commit()
    return owed


def rows(session):
    return list(
        session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == KIND).order_by(OutboxMessage.id)
        )
    )


def test_organizers_get_one_mail_a_day_with_approve_links(api, client, session, config):
    org, co = api.signup("Olga"), api.signup("Cora")
    ann, bob = api.signup("Ann"), api.signup("Bob")
    group = api.call(
        "POST",
        "/api/v1/groups",
        org,
        json={"name": "Choir", "interests": ["singing"], "join_policy": "approval"},
    ).get_json()
    members = f"/api/v1/groups/{group['id']}/members"
    api.call("POST", members, co)
    api.call("PUT", f"{members}/{co['id']}", org, json={"state": "member"})
    api.call("PUT", f"{members}/{co['id']}", org, json={"role": "organizer"})
    now = utcnow()
    assert owe(session, now) == 0  # nobody waits
    api.call("POST", members, ann)
    api.call("POST", members, bob)

    assert owe(session, now) == 2  # one for each organizer
    assert owe(session, now + timedelta(hours=1)) == 0  # not again the same day
    mails = rows(session)
    assert sorted(m.recipient_id for m in mails) == sorted([org["id"], co["id"]])

    mail = render_outbox_message(session, mails[0], config, now)
    assert mail is not None and mail.kind == KIND
    assert "2 people ask to join" in mail.subject
    assert "Ann" in mail.text and "Bob" in mail.text
    links = re.findall(r"http://kindred\.test(/groups/approve/\S+)", mail.text)
    assert len(links) == 2

    # the link asks first (a prefetch changes nothing), then approves without signing in
    first = client.get(links[0])
    assert first.status_code == 200 and "Let Ann in" in first.text
    approved = client.post(links[0])
    assert approved.status_code == 200 and "is a member" in approved.text
    state = session.scalar(
        select(GroupMember.state)
        .where(GroupMember.user_id == ann["id"])
        .execution_options(populate_existing=True)
    )
    assert state == "member"
    assert client.post(links[0]).status_code == 200  # twice changes nothing
    assert client.get("/groups/approve/not-a-token").status_code == 400

    # sent later, the mail lists only who still waits; nobody left: nothing is sent
    later = render_outbox_message(session, mails[1], config, now)
    assert later is not None and "Ann" not in later.text and "Bob" in later.text
    api.call("PUT", f"{members}/{bob['id']}", org, json={"state": "member"})
    session.expire_all()
    assert render_outbox_message(session, mails[1], config, now) is None

    # a day later, new requests are mailed again; a demoted organizer's link no longer works
    carl = api.signup("Carl")
    api.call("POST", members, carl)
    assert owe(session, now + timedelta(days=1, minutes=1)) == 2
    cora_mail = [m for m in rows(session) if m.recipient_id == co["id"]][-1]
    (cora_link,) = re.findall(
        r"/groups/approve/[^\"']+", cora_mail.payload["requests"][0]["approve_url"]
    )
    api.call("PUT", f"{members}/{co['id']}", org, json={"role": "member"})
    assert client.post(cora_link).status_code == 403
