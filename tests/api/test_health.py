"""GET /healthz."""

from __future__ import annotations

from dataclasses import replace

from scheduler import create_app


def test_healthz_reports_database_and_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"db": "ok", "redis": "ok"}


def test_healthz_is_503_naming_redis_when_it_is_down(config):
    app = create_app(replace(config, redis_url="redis://127.0.0.1:1/0"))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["db"] == "ok"
    assert body["redis"].startswith("down")
    app.extensions["kindred"].db.dispose()


def test_healthz_is_503_naming_the_database_when_it_is_down(config, tmp_path):
    app = create_app(replace(config, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["db"].startswith("down")
    assert response.get_json()["redis"] == "ok"
