"""A person who reaches a wrong address, uses a page the wrong way, or meets our failure gets a page in the site's
layout and their language; a program under /api/ gets the API's JSON error."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from callbacks.db import Database
from config import ContactCentre


@pytest.mark.parametrize(("lang", "title", "direction"),
                         [("fa", "صفحه پیدا نشد", "rtl"), ("en", "Page not found", "ltr")])
def test_an_unknown_page_is_a_404_in_the_readers_language_with_the_sites_layout(client, lang, title, direction):
    answer = client.get("/no-such-page", headers={"Accept-Language": lang})
    assert answer.status_code == 404 and answer.mimetype == "text/html"
    html = answer.get_data(as_text=True)
    assert f'<html lang="{lang}" dir="{direction}">' in html
    assert f"<h1>{title}</h1>" in html
    assert "/assets/site.css" in html and 'class="site-header"' in html
    assert 'href="/callback"' in html


def test_the_language_switch_of_an_error_page_works_like_every_others(client):
    answer = client.get("/no-such-page?lang=en", headers={"Accept-Language": "fa"})
    assert "<h1>Page not found</h1>" in answer.get_data(as_text=True)


def test_a_wrong_method_is_a_405_page_that_says_which_methods_are_allowed(client):
    answer = client.delete("/callback", headers={"Accept-Language": "en"})
    assert answer.status_code == 405
    assert set(answer.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert "<h1>This cannot be done here</h1>" in answer.get_data(as_text=True)


@pytest.fixture
def failing_app(app_config: dict[str, Any], sqlite_db: Database, centre: ContactCentre, clock: Any) -> Flask:
    from ivr.app import create_app

    app = create_app({**app_config, "TESTING": False, "DATABASE": sqlite_db, "CENTRE": centre, "CLOCK": clock})

    @app.get("/explode")
    def explode() -> str:
        raise RuntimeError("a bug of ours")

    @app.get("/api/v1/explode")
    def explode_api() -> str:
        raise RuntimeError("a bug of ours")

    return app


def test_our_failure_is_a_500_page_without_a_stack_trace(failing_app, caplog):
    answer = failing_app.test_client().get("/explode", headers={"Accept-Language": "fa"})
    assert answer.status_code == 500
    html = answer.get_data(as_text=True)
    assert "<h1>مشکلی از سوی ما پیش آمد</h1>" in html and 'dir="rtl"' in html
    assert "Traceback" not in html and "a bug of ours" not in html
    assert any("unexpected error on GET /explode" in r.getMessage() for r in caplog.records)


def test_under_the_api_errors_stay_json(failing_app, client):
    assert client.get("/api/v1/nothing-here").json == {
        "error": {"code": "not_found", "message": client.get("/api/v1/nothing-here").json["error"]["message"]}}
    answer = failing_app.test_client().get("/api/v1/explode")
    assert answer.status_code == 500 and answer.json["error"]["code"] == "internal_error"
