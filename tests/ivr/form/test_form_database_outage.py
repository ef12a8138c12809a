"""When the database fails, the customer is told nothing was saved (503, Retry-After); nothing half-written stays."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from callbacks.db import Database
from tests.support.form import count_callbacks, count_events, csrf_token, page, status_path, submit, text_of


def assert_retry_after(response: Any) -> None:
    # At least the page's own 5 s; Flask-Limiter raises it to the end of the rate-limit window on limited views.
    assert response.headers["Retry-After"] == "5"


@contextmanager
def database_fails(db: Database, when: Callable[[str], bool] = lambda statement: True) -> Iterator[None]:
    """Make the driver fail on every statement `when` picks, as a dropped connection or a full disk would."""
    driver_error = db.engine.dialect.loaded_dbapi.OperationalError

    def fail(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if when(statement):
            raise driver_error("simulated outage: server closed the connection unexpectedly")

    event.listen(db.engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(db.engine, "before_cursor_execute", fail)


def test_failure_half_way_through_storing_leaves_nothing_and_says_so(client: Any, db: Database) -> None:
    form_page = client.get("/callback?lang=en")
    data = {"csrf_token": csrf_token(form_page), "phone": "09123456789", "queue": "general"}

    # The callback row is written, then the history row fails: the whole request must roll back.
    with database_fails(db, when=lambda statement: "INSERT INTO callback_events" in statement):
        response = client.post("/callback?lang=en", data=data)

    assert response.status_code == 503
    assert_retry_after(response)
    assert "Nothing was saved" in text_of(response, "unavailable")
    assert "Traceback" not in response.get_data(as_text=True)
    assert count_callbacks(db) == 0
    assert count_events(db) == 0


def test_database_down_on_submit_in_persian(client: Any, db: Database) -> None:
    form_page = client.get("/callback?lang=fa")

    with database_fails(db):
        response = client.post("/callback?lang=fa", data={"csrf_token": csrf_token(form_page), "phone": "09123456789"})

    assert response.status_code == 503
    assert_retry_after(response)
    assert page(response).get("dir") == "rtl"
    assert "چیزی ذخیره نشد" in text_of(response, "unavailable")
    assert count_callbacks(db) == 0


def test_request_succeeds_once_the_database_is_back(client: Any, db: Database) -> None:
    with database_fails(db):
        assert submit(client, "en", phone="09123456789").status_code == 503

    assert submit(client, "en", phone="09123456789").status_code == 201
    assert count_callbacks(db) == 1


def test_form_itself_still_opens_while_the_database_is_down(client: Any, db: Database) -> None:
    with database_fails(db):
        response = client.get("/callback")

    assert response.status_code == 200


def test_status_page_while_the_database_is_down(client: Any, db: Database) -> None:
    link = status_path(submit(client, "en", phone="09123456789"))

    with database_fails(db):
        response = client.get(link + "?lang=en")

    assert response.status_code == 503
    assert_retry_after(response)
    assert "Traceback" not in response.get_data(as_text=True)


def test_cancel_while_the_database_is_down_changes_nothing(client: Any, db: Database) -> None:
    link = status_path(submit(client, "en", phone="09123456789"))
    token = csrf_token(client.get(link))

    with database_fails(db, when=lambda statement: statement.lstrip().upper().startswith("UPDATE")):
        response = client.post(f"{link}/cancel", data={"csrf_token": token})

    assert response.status_code == 503
    assert text_of(client.get(link + "?lang=en"), "state") == "Waiting"
