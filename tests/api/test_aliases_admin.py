"""Interest aliases cannot be hijacked: administrators add and remove them, organizers suggest.

The attack this closes: anyone who made a throwaway group could alias an interest other
groups use ("astronomy") to a tag of their own, so searches for it showed only their group.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from scheduler.models import User

ALIASES = "/api/v1/interests/aliases"
SUGGESTIONS = "/api/v1/interests/aliases/suggestions"


def make_site_admin(session: Any, user: dict[str, Any]) -> None:
    """Give `user` (the API helper's dict) the site administrator role."""
    session.execute(update(User).where(User.id == user["id"]).values(is_site_admin=True))
    session.commit()


def group_names(api: Any, interest: str) -> list[str]:
    """What searching groups for `interest` shows."""
    found = api.call("GET", "/api/v1/groups", query_string={"interest": interest})
    assert found.status_code == 200
    return sorted(g["name"] for g in found.get_json())


@pytest.fixture
def people(api: Any, session: Any) -> dict[str, dict[str, Any]]:
    """An astronomy club and a cryptography circle, a throwaway group, an admin, a member."""
    astronomer, cryptographer, attacker = api.signup("Ada"), api.signup("Cy"), api.signup("Mal")
    for organizer, name, interests in (
        (astronomer, "Stargazers", ["astronomy"]),
        (cryptographer, "Cipher circle", ["cryptography"]),
        (attacker, "Totally legit", ["free crypto giveaway"]),
    ):
        made = api.call(
            "POST", "/api/v1/groups", organizer, json={"name": name, "interests": interests}
        )
        assert made.status_code == 201
    admin, member = api.signup("Root"), api.signup("Mo")
    make_site_admin(session, admin)
    return {
        "astronomer": astronomer,
        "cryptographer": cryptographer,
        "attacker": attacker,
        "admin": admin,
        "member": member,
    }


def test_an_organizer_cannot_take_over_an_interest_others_use(api, people):
    takeover = api.call(
        "POST",
        ALIASES,
        people["attacker"],
        json={"alias": "cryptography", "interest": "free crypto giveaway"},
    )

    assert takeover.status_code == 403
    body = takeover.get_json()
    assert body["code"] == 403 and body["error"] == "forbidden"
    assert "administrators" in body["message"]
    assert group_names(api, "cryptography") == ["Cipher circle"]
    assert "cryptography" not in {row["alias"] for row in api.call("GET", ALIASES).get_json()}


def test_a_suggestion_accepted_by_an_administrator_changes_what_search_finds(api, people):
    suggested = api.call(
        "POST",
        SUGGESTIONS,
        people["cryptographer"],
        json={"alias": "Crypto", "interest": "cryptography", "reason": "people type it"},
    )
    assert suggested.status_code == 201
    suggestion = suggested.get_json()
    assert suggestion["alias"] == "crypto" and suggestion["interest"] == "cryptography"
    assert suggestion["status"] == "pending"
    assert suggestion["suggested_by"]["name"] == "Cy"
    assert group_names(api, "crypto") == []  # nothing changes before an administrator decides

    queue = api.call("GET", SUGGESTIONS, people["admin"], query_string={"status": "pending"})
    assert [s["id"] for s in queue.get_json()] == [suggestion["id"]]
    assert "X-Pagination" in queue.headers
    own = api.call("GET", SUGGESTIONS, people["cryptographer"]).get_json()
    assert [s["id"] for s in own] == [suggestion["id"]]
    assert api.call("GET", SUGGESTIONS, people["attacker"]).get_json() == []

    accept = f"{SUGGESTIONS}/{suggestion['id']}/accept"
    assert api.call("POST", accept, people["cryptographer"]).status_code == 403
    accepted = api.call("POST", accept, people["admin"])

    assert accepted.status_code == 200
    assert accepted.get_json()["status"] == "accepted"
    assert accepted.get_json()["decided_at"]
    assert group_names(api, "crypto") == ["Cipher circle"]
    autocomplete = api.call("GET", "/api/v1/interests", query_string={"q": "crypto"}).get_json()
    assert autocomplete[0]["name"] == "cryptography"
    assert api.call("POST", accept, people["admin"]).status_code == 409  # decided once
    assert (
        api.call("GET", SUGGESTIONS, people["admin"], query_string={"status": "pending"}).get_json()
        == []
    )


def test_a_rejected_suggestion_changes_nothing(api, people):
    suggestion = api.call(
        "POST",
        SUGGESTIONS,
        people["attacker"],
        json={"alias": "cryptography", "interest": "free crypto giveaway"},
    ).get_json()

    rejected = api.call("POST", f"{SUGGESTIONS}/{suggestion['id']}/reject", people["admin"])

    assert rejected.status_code == 200
    assert rejected.get_json()["status"] == "rejected"
    assert group_names(api, "cryptography") == ["Cipher circle"]
    again = api.call("POST", f"{SUGGESTIONS}/{suggestion['id']}/accept", people["admin"])
    assert again.status_code == 409
    assert api.call("POST", f"{SUGGESTIONS}/999999/accept", people["admin"]).status_code == 404


def test_removing_an_alias_restores_what_search_found_before(api, people):
    stars = api.call(
        "POST",
        "/api/v1/groups",
        people["member"],
        json={"name": "Night sky", "interests": ["stars"]},
    )
    assert stars.status_code == 201
    added = api.call(
        "POST", ALIASES, people["admin"], json={"alias": "stars", "interest": "astronomy"}
    )
    assert added.status_code == 201
    assert group_names(api, "stars") == ["Stargazers"]

    assert api.call("DELETE", f"{ALIASES}/stars", people["astronomer"]).status_code == 403
    assert api.call("DELETE", f"{ALIASES}/stars").status_code == 401
    removed = api.call("DELETE", f"{ALIASES}/Stars", people["admin"])

    assert removed.status_code == 204
    assert group_names(api, "stars") == ["Night sky"]
    assert {"alias": "stars", "interest": "astronomy"} not in api.call("GET", ALIASES).get_json()
    gone = api.call("DELETE", f"{ALIASES}/stars", people["admin"])
    assert gone.status_code == 404
    assert gone.get_json()["error"] == "not_found"
    builtin = api.call("DELETE", f"{ALIASES}/astro", people["admin"])
    assert builtin.status_code == 409
    assert "alias" in builtin.get_json()["errors"]


def test_an_alias_with_odd_characters_is_removed_by_its_name(api, people):
    added = api.call(
        "POST", ALIASES, people["admin"], json={"alias": "a/b & c", "interest": "astronomy"}
    )
    assert added.status_code == 201

    assert api.call("DELETE", f"{ALIASES}/a%2Fb%20%26%20c", people["admin"]).status_code == 204
    assert api.call("DELETE", f"{ALIASES}/a/b%20%26%20c", people["admin"]).status_code == 404


def test_who_may_suggest_and_what_is_refused(api, people, session):
    def suggest(user, **body):
        return api.call("POST", SUGGESTIONS, user, json=body)

    not_organizer = suggest(people["member"], alias="stars", interest="astronomy")
    assert not_organizer.status_code == 403
    assert suggest(None, alias="stars", interest="astronomy").status_code == 401
    unknown = suggest(people["astronomer"], alias="stars", interest="astrology")
    assert unknown.status_code == 422
    assert "interest" in unknown.get_json()["errors"]
    builtin = suggest(people["astronomer"], alias="astro", interest="astronomy")
    assert builtin.status_code == 409
    assert "alias" in builtin.get_json()["errors"]
    empty = suggest(people["astronomer"], alias="  ", interest="astronomy")
    assert empty.status_code == 422
    assert "alias" in empty.get_json()["errors"]
    long_reason = suggest(
        people["astronomer"], alias="stars", interest="astronomy", reason="x" * 501
    )
    assert long_reason.status_code == 422
    assert "reason" in long_reason.get_json()["errors"]
    assert suggest(people["astronomer"], alias="stars", interest="astronomy").status_code == 201
    twice = suggest(people["astronomer"], alias="Stars", interest="Astronomy")
    assert twice.status_code == 409
    assert "alias" in twice.get_json()["errors"]
    bad_status = api.call("GET", SUGGESTIONS, people["admin"], query_string={"status": "maybe"})
    assert bad_status.status_code == 422
    assert "status" in bad_status.get_json()["errors"]


def test_one_person_can_only_have_so_many_suggestions_waiting(api, people):
    from scheduler.services.interests.aliases import MAX_PENDING_SUGGESTIONS

    for n in range(MAX_PENDING_SUGGESTIONS):
        made = api.call(
            "POST",
            SUGGESTIONS,
            people["attacker"],
            json={"alias": f"spam {n}", "interest": "astronomy"},
        )
        assert made.status_code == 201

    over = api.call(
        "POST",
        SUGGESTIONS,
        people["attacker"],
        json={"alias": "spam more", "interest": "astronomy"},
    )

    assert over.status_code == 409
    assert "waiting for review" in over.get_json()["message"]


def test_the_cli_grants_and_revokes_the_administrator_role(app, api, session):
    alice = api.signup("Alice", email="alice@example.org")
    runner = app.test_cli_runner()

    def add_alias(name: str) -> int:
        return api.call(
            "POST", ALIASES, alice, json={"alias": name, "interest": "astronomy"}
        ).status_code

    assert add_alias("stars") == 403
    granted = runner.invoke(args=["admin", "grant", " Alice@Example.org "])
    assert granted.exit_code == 0, granted.output
    assert "alice@example.org is now a site administrator" in granted.output
    assert runner.invoke(args=["admin", "list"]).output.split() == ["alice@example.org"]
    assert add_alias("stars") == 201
    again = runner.invoke(args=["admin", "grant", "alice@example.org"])
    assert "already is" in again.output

    revoked = runner.invoke(args=["admin", "revoke", "alice@example.org"])

    assert revoked.exit_code == 0, revoked.output
    assert "is no longer a site administrator" in revoked.output
    assert add_alias("heavens") == 403
    assert session.scalar(select(User.is_site_admin).where(User.id == alice["id"])) is False
    unknown = runner.invoke(args=["admin", "grant", "nobody@example.org"])
    assert unknown.exit_code != 0
    assert "No account has the email nobody@example.org" in unknown.output


def test_the_openapi_document_describes_the_alias_endpoints(api):
    paths = api.call("GET", "/api/v1/openapi.json").get_json()["paths"]

    assert {"post", "get"} <= set(paths[ALIASES])
    assert "delete" in paths[f"{ALIASES}/{{alias}}"]
    assert {"get", "post"} <= set(paths[SUGGESTIONS])
    assert "post" in paths[f"{SUGGESTIONS}/{{suggestion_id}}/accept"]
    assert "post" in paths[f"{SUGGESTIONS}/{{suggestion_id}}/reject"]
    assert "403" in paths[ALIASES]["post"]["responses"]
