"""The customer follows their request behind the status link, and cancels it there."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from callbacks.db import Database
from callbacks.models import COMPLETED, DIALING, MISSED, PENDING, UNREACHABLE, Callback, CallbackEvent
from tests.support.form import csrf_token, page, status_path, stored_callbacks, submit, text_of


@pytest.fixture
def status_url(client: Any) -> str:
    """The link a customer got for +98 912 345 6789 in the general queue."""
    return status_path(submit(client, "en", phone="0912 345 6789"))


def set_status(db: Database, status: str, attempts: int) -> None:
    with db.session() as session:
        session.execute(update(Callback).values(status=status, attempts_made=attempts))


def test_status_page_shows_where_the_request_stands_without_the_full_number(client: Any, status_url: str) -> None:
    response = client.get(status_url + "?lang=en")

    assert response.status_code == 200
    assert text_of(response, "state") == "Waiting"
    assert text_of(response, "detail") == "We will call you before 12:00 today."
    assert text_of(response, "deadline") == "12:00 today"
    assert text_of(response, "attempts") == "0"
    assert text_of(response, "queue") == "General support"
    assert text_of(response, "phone") == "+98912***6789"
    body = response.get_data(as_text=True)
    assert "3456789" not in body and "912 345" not in body
    assert page(response).get_element_by_id("cancel") is not None
    assert response.headers["Cache-Control"] == "no-store"


def test_status_page_in_persian(client: Any, status_url: str) -> None:
    response = client.get(status_url + "?lang=fa")

    html = page(response)
    assert (html.get("lang"), html.get("dir")) == ("fa", "rtl")
    assert text_of(response, "state") == "در انتظار"
    assert text_of(response, "detail") == "حداکثر تا ساعت ۱۲:۰۰ امروز با شما تماس می‌گیریم."
    assert text_of(response, "attempts") == "۰"
    assert text_of(response, "queue") == "پشتیبانی عمومی"


@pytest.mark.parametrize(
    ("status", "attempts", "headline", "detail"),
    [
        (PENDING, 1, "Waiting to try again", "We have not reached you yet. We will try again before 12:00 today."),
        (DIALING, 1, "We are calling you", "Your phone should ring now. Please answer it."),
        (COMPLETED, 1, "Done", "We talked with you. Thank you."),
        (
            UNREACHABLE,
            3,
            "We could not reach you",
            "We tried 3 times and could not reach you. You can ask again at any time.",
        ),
        (MISSED, 0, "Missed", "We could not call you in time. We are sorry; a supervisor has been told."),
    ],
)
def test_each_state_is_told_in_words(
    client: Any, db: Database, status_url: str, status: str, attempts: int, headline: str, detail: str
) -> None:
    set_status(db, status, attempts)

    response = client.get(status_url + "?lang=en")

    assert text_of(response, "state") == headline
    assert text_of(response, "detail") == detail
    assert text_of(response, "attempts") == str(attempts)
    can_cancel = status in (PENDING, DIALING)
    assert (page(response).get_element_by_id("cancel", None) is not None) == can_cancel


def test_customer_cancels_and_sees_the_new_state(client: Any, db: Database, status_url: str) -> None:
    status_page = client.get(status_url + "?lang=en")
    [form] = page(status_page).xpath("//form[@class='card cancel']")

    response = client.post(form.get("action"), data={"csrf_token": csrf_token(status_page)})

    assert response.status_code == 303
    assert response.headers["Location"].startswith(status_url)
    after = client.get(response.headers["Location"])
    assert text_of(after, "state") == "Canceled"
    assert "Your request is canceled." in text_of(after, "main")
    assert page(after).get_element_by_id("cancel", None) is None
    [callback] = stored_callbacks(db)
    assert callback.status == "canceled"
    with db.session() as session:
        event = session.scalars(select(CallbackEvent).order_by(CallbackEvent.id.desc())).first()
    assert event is not None and (event.to_status, event.actor) == ("canceled", "customer:web")
    # The notice is shown once.
    assert "Your request is canceled." not in text_of(client.get(status_url), "main")


def test_cancel_in_persian_confirms_in_persian(client: Any, status_url: str) -> None:
    status_page = client.get(status_url + "?lang=fa")

    response = client.post(
        f"{status_url}/cancel?lang=fa", data={"csrf_token": csrf_token(status_page)}, follow_redirects=True
    )

    assert text_of(response, "state") == "لغو شد"
    assert "درخواست شما لغو شد." in text_of(response, "main")


def test_cancel_without_csrf_token_is_refused_and_changes_nothing(client: Any, db: Database, status_url: str) -> None:
    client.get(status_url)

    response = client.post(f"{status_url}/cancel?lang=en", data={})

    assert response.status_code == 400
    assert "nothing was changed" in text_of(response, "main")
    assert text_of(response, "state") == "Waiting"
    assert stored_callbacks(db)[0].status == PENDING


def test_canceling_twice_is_harmless(client: Any, status_url: str) -> None:
    token = csrf_token(client.get(status_url))
    client.post(f"{status_url}/cancel", data={"csrf_token": token})

    response = client.post(f"{status_url}/cancel?lang=en", data={"csrf_token": token}, follow_redirects=True)

    assert text_of(response, "state") == "Canceled"


def test_a_finished_request_cannot_be_canceled(client: Any, db: Database, status_url: str) -> None:
    token = csrf_token(client.get(status_url))
    set_status(db, COMPLETED, 1)

    response = client.post(f"{status_url}/cancel?lang=en", data={"csrf_token": token}, follow_redirects=True)

    assert text_of(response, "state") == "Done"
    assert "already ended, so it cannot be canceled" in text_of(response, "main")
    assert stored_callbacks(db)[0].status == COMPLETED


@pytest.mark.parametrize("token", ["not-a-token", "x" * 200])
def test_unknown_link_gets_a_friendly_404(client: Any, token: str) -> None:
    response = client.get(f"/callback/status/{token}?lang=en")

    assert response.status_code == 404
    assert text_of(response, "main").startswith("We cannot find this request")


def test_unknown_link_404_in_persian(client: Any) -> None:
    response = client.get("/callback/status/nope?lang=fa")

    assert response.status_code == 404
    assert page(response).get("dir") == "rtl"
    assert text_of(response, "main").startswith("این درخواست پیدا نشد")


def test_canceling_through_an_unknown_link_is_a_404(client: Any) -> None:
    token = csrf_token(client.get("/callback"))

    response = client.post("/callback/status/nope/cancel", data={"csrf_token": token})

    assert response.status_code == 404


def test_canceling_through_an_unknown_link_without_a_csrf_token_is_a_404_not_a_500(client: Any) -> None:
    response = client.post("/callback/status/nope/cancel?lang=en")

    assert response.status_code == 404
    assert text_of(response, "main").startswith("We cannot find this request")
