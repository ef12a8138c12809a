"""Driving the public callback form with Flask's test client, as a browser would: GET, read the token, POST."""

from __future__ import annotations

import re
from typing import Any

import lxml.html
from flask.testing import FlaskClient
from sqlalchemy import func, select

from callbacks.db import Database
from callbacks.models import Callback, CallbackEvent

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def page(response: Any) -> Any:
    """The response body as an lxml document."""
    return lxml.html.fromstring(response.get_data(as_text=True))


def text_of(response: Any, element_id: str) -> str:
    """The text of the element with `element_id` (AssertionError naming it when absent)."""
    found = page(response).get_element_by_id(element_id, None)
    assert found is not None, f"no #{element_id} on the page:\n{response.get_data(as_text=True)[:3000]}"
    return " ".join(found.text_content().split())


def csrf_token(response: Any) -> str:
    match = _CSRF.search(response.get_data(as_text=True))
    assert match, "the page has no CSRF token"
    return match[1]


def submit(client: FlaskClient, lang: str | None = "en", *, with_token: bool = True, **fields: str) -> Any:
    """Open the form (in `lang`), fill `fields` and send it; `with_token=False` sends it without the CSRF token."""
    query = f"?lang={lang}" if lang else ""
    form_page = client.get(f"/callback{query}")
    assert form_page.status_code == 200
    data = {"queue": "general", **fields}
    if with_token:
        data["csrf_token"] = csrf_token(form_page)
    return client.post(f"/callback{query}", data=data)


def status_path(response: Any) -> str:
    link = page(response).get_element_by_id("status-link")
    return link.get("href")


def count_callbacks(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Callback)) or 0


def count_events(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(CallbackEvent)) or 0


def stored_callbacks(db: Database) -> list[Callback]:
    with db.session() as session:
        return list(session.scalars(select(Callback).order_by(Callback.id)))
