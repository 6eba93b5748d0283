"""GET /api/v1/interests autocomplete and the aliases site administrators add."""

from __future__ import annotations

from sqlalchemy import update

from scheduler.models import User


def test_autocomplete_lists_matching_tags_most_used_first(api):
    api.signup("A", interests=["astronomy", "radio astronomy"])
    api.signup("B", interests=["astronomy"])
    api.signup("C", interests=["astrophotography", "astronomy", "knitting"])

    response = api.call("GET", "/api/v1/interests", query_string={"q": "Astro"})

    assert response.status_code == 200
    assert response.get_json() == [
        {"name": "astronomy", "count": 3},
        {"name": "astrophotography", "count": 1},
        {"name": "radio astronomy", "count": 1},
    ]


def test_autocomplete_finds_the_tag_an_alias_stands_for(api):
    api.signup("A", interests=["machine learning", "html"])

    found = api.call("GET", "/api/v1/interests", query_string={"q": "ml"}).get_json()

    assert [row["name"] for row in found] == ["machine learning", "html"]


def test_autocomplete_rejects_a_silly_limit_naming_the_field(api):
    response = api.call("GET", "/api/v1/interests", query_string={"limit": "lots"})
    assert response.status_code == 422
    assert "limit" in response.get_json()["errors"]


def make_site_admin(session, user):
    """Give `user` (the API helper's dict) the site administrator role."""
    session.execute(update(User).where(User.id == user["id"]).values(is_site_admin=True))
    session.commit()


def test_administrator_adds_an_alias_that_applies_to_everyone_afterwards(api, session):
    organizer = api.signup("Org")
    group = api.call(
        "POST", "/api/v1/groups", organizer, json={"name": "Crypto", "interests": ["cryptography"]}
    )
    assert group.status_code == 201
    admin = api.signup("Admin")
    make_site_admin(session, admin)

    added = api.call(
        "POST",
        "/api/v1/interests/aliases",
        admin,
        json={"alias": " Crypto ", "interest": "Cryptography"},
    )

    assert added.status_code == 201
    assert added.get_json() == {"alias": "crypto", "interest": "cryptography"}
    newcomer = api.signup("New", interests=["crypto"])
    assert newcomer["interests"] == ["cryptography"]
    listed = api.call("GET", "/api/v1/groups", query_string={"interest": "crypto"}).get_json()
    assert [g["name"] for g in listed] == ["Crypto"]
    aliases = api.call("GET", "/api/v1/interests/aliases").get_json()
    assert {"alias": "crypto", "interest": "cryptography"} in aliases
    assert {"alias": "astro", "interest": "astronomy"} in aliases


def test_alias_rules(api, session):
    organizer = api.signup("Org")
    api.call("POST", "/api/v1/groups", organizer, json={"name": "G", "interests": ["x"]})
    admin = api.signup("Admin")
    make_site_admin(session, admin)

    def add(user, alias, interest):
        return api.call(
            "POST",
            "/api/v1/interests/aliases",
            user,
            json={"alias": alias, "interest": interest},
        )

    refused = add(organizer, "cryo", "cryptography")  # organizers suggest, they do not add
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "forbidden"
    assert add(None, "cryo", "cryptography").status_code == 401
    assert add(admin, "cryo", "cryptography").status_code == 201
    again = add(admin, "CRYO", "something else")
    assert again.status_code == 409
    assert "alias" in again.get_json()["errors"]
    assert add(admin, "astro", "space").status_code == 409
    same = add(admin, "Cryptography", "cryptography")
    assert same.status_code == 422
    assert "alias" in same.get_json()["errors"]
    chained = add(admin, "crypt", "cryo")  # targets resolve through aliases
    assert chained.status_code == 201
    assert chained.get_json()["interest"] == "cryptography"
    missing = api.call("POST", "/api/v1/interests/aliases", admin, json={"alias": "x"})
    assert missing.status_code == 422
    assert "interest" in missing.get_json()["errors"]
