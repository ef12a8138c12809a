"""The live board: who waits for a callback and until when, which promises are at risk and why, calls in
progress, which agents are free, open alerts; in English or Persian."""

from __future__ import annotations

from datetime import timedelta

from callbacks.models import InboundCall
from tests.support.supervisor import add_account, csrf_for, log_in, make_agent, make_alert, make_callback, make_inbound


def test_board_lists_waiting_callbacks_at_risk_first_with_countdown_and_reason(app, client, clock):
    db = app.extensions["ivr"].db
    soon = make_callback(db, clock.now(), deadline_in=timedelta(minutes=20), name="Reza")
    risky = make_callback(
        db, clock.now(), deadline_in=timedelta(minutes=50), at_risk_reason="6 callbacks ahead, 1 agent free"
    )
    make_callback(db, clock.now(), status="completed")
    log_in(client, add_account(app))
    board = client.get("/supervisor/board.json?lang=en").get_json()
    assert board["open_total"] == 2 and board["at_risk_total"] == 1
    first, second = board["callbacks"]
    assert first["id"] == risky.public_id and first["at_risk"] is True
    assert first["at_risk_reason"] == "6 callbacks ahead, 1 agent free"
    assert second["id"] == soon.public_id and second["seconds_left"] == 20 * 60
    assert second["deadline_local"] == "10:20"  # 10:00 Tehran + 20 minutes
    assert "***" in second["phone"] and second["name"] == "Reza"
    assert second["url"] == f"/supervisor/callbacks/{soon.public_id}"


def test_countdown_follows_the_clock(app, client, clock):
    db = app.extensions["ivr"].db
    make_callback(db, clock.now(), deadline_in=timedelta(minutes=10))
    log_in(client, add_account(app))
    clock.advance(minutes=15)
    row = client.get("/supervisor/board.json").get_json()["callbacks"][0]
    assert row["seconds_left"] == -5 * 60


def test_agents_are_free_busy_wrapping_up_or_off_shift(app, client, clock):
    db = app.extensions["ivr"].db
    make_agent(db, clock.now(), "Ali")
    make_agent(db, clock.now(), "Bahar", busy=True)
    make_agent(db, clock.now(), "Cyrus", available_in=timedelta(seconds=20))
    make_agent(db, clock.now(), "Dara", on_shift=False)
    log_in(client, add_account(app))
    agents = {a["name"]: a["state"] for a in client.get("/supervisor/board.json").get_json()["agents"]}
    assert agents == {"Ali": "free", "Bahar": "busy", "Cyrus": "wrap_up", "Dara": "off_shift"}
    clock.advance(seconds=21)
    agents = {a["name"]: a["state"] for a in client.get("/supervisor/board.json").get_json()["agents"]}
    assert agents["Cyrus"] == "free"


def test_calls_in_progress_show_callback_attempts_and_inbound_callers(app, client, clock):
    db = app.extensions["ivr"].db
    agent = make_agent(db, clock.now(), "Ali", busy=True)
    dialing = make_callback(
        db, clock.now(), status="dialing", attempts=[{"state": "in_progress", "agent_id": agent.id}]
    )
    make_inbound(db, clock.now() - timedelta(minutes=2), ["language", "main"], outcome=None, ended=False)
    make_inbound(db, clock.now() - timedelta(minutes=9), ["language"], outcome="hung_up", ended=True)
    log_in(client, add_account(app))
    calls = client.get("/supervisor/board.json?lang=en").get_json()["calls"]
    assert [c["kind"] for c in calls] == ["outbound", "inbound"]
    assert calls[0]["who"] == dialing.reference and calls[0]["agent"] == "Ali"
    assert calls[1]["where"] == "main" and calls[1]["since_seconds"] == 120


def test_alerts_show_until_acknowledged(app, client, clock):
    db = app.extensions["ivr"].db
    callback = make_callback(
        db, clock.now(), status="missed", deadline_in=timedelta(minutes=-5), end_reason="no free agent"
    )
    alert = make_alert(db, clock.now(), callback, kind="missed", reason="no free agent before the deadline")
    with db.session() as session:
        from callbacks.models import Alert

        session.add(Alert(callback_id=None, kind="digest", created_at=clock.now(), reason="daily"))
    log_in(client, add_account(app))
    alerts = client.get("/supervisor/board.json?lang=en").get_json()["alerts"]
    assert [(a["kind"], a["reference"], a["reason"]) for a in alerts] == [
        ("missed", callback.reference, "no free agent before the deadline")
    ]
    response = client.post(
        f"/supervisor/alerts/{alert.id}/ack", headers={"X-CSRFToken": csrf_for(client), "Accept": "application/json"}
    )
    assert response.get_json()["changed"] is True
    assert client.get("/supervisor/board.json").get_json()["alerts"] == []


def test_board_page_loads_its_script_and_first_snapshot(app, client, clock):
    make_callback(app.extensions["ivr"].db, clock.now(), at_risk_reason="backlog")
    log_in(client, add_account(app))
    html = client.get("/supervisor/?lang=en").get_data(as_text=True)
    assert 'id="board-data"' in html and "board.js" in html and "backlog" in html
    script = client.get("/supervisor/static/board.js")
    script.close()
    assert script.status_code == 200


def test_board_speaks_persian_right_to_left(app, client, clock):
    make_callback(app.extensions["ivr"].db, clock.now(), deadline_in=timedelta(minutes=20))
    log_in(client, add_account(app))
    html = client.get("/supervisor/?lang=fa").get_data(as_text=True)
    assert '<html lang="fa" dir="rtl">' in html and "تابلوی زنده" in html
    row = client.get("/supervisor/board.json").get_json()["callbacks"][0]  # the cookie remembers Persian
    assert row["deadline_local"] == "۱۰:۲۰" and row["status_label"] == "در انتظار"


def test_language_follows_the_browser_when_not_chosen(app, clock):
    client = app.test_client()
    log_in(client, add_account(app))
    client.delete_cookie("lang")
    html = client.get("/supervisor/", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in html
    html = client.get("/supervisor/", headers={"Accept-Language": "fa-IR,fa;q=0.9"}).get_data(as_text=True)
    assert '<html lang="fa" dir="rtl">' in html


def test_stale_inbound_calls_without_an_end_are_not_shown_forever(app, client, clock):
    db = app.extensions["ivr"].db
    make_inbound(db, clock.now() - timedelta(hours=5), ["language"], outcome=None, ended=False)
    log_in(client, add_account(app))
    assert client.get("/supervisor/board.json").get_json()["calls"] == []
    with db.session() as session:
        assert session.query(InboundCall).count() == 1


def test_the_board_shows_each_queues_quote_against_its_sla_and_the_agents_that_would_keep_every_promise(
        app, client, clock):
    from callbacks.agents import add_agent

    rt = app.extensions["ivr"]
    add_agent(rt.db, "Agent", "+989350000001", clock.now(), "IR")
    log_in(client, add_account(app))
    calm = client.get("/supervisor/board.json?lang=en").get_json()["forecast"]
    general = next(q for q in calm["queues"] if q["queue"] == "general")
    assert (general["quote_local"], general["sla_local"], general["source"]) == ("12:00", "12:00", "sla")
    assert calm["advice"] == "The agents on shift keep every promise."
    # A rush: sixty requests in the last hour for one agent.
    for i in range(60):
        rt.service.request(phone=f"+98912{i:07d}", channel="api", actor="t")
    clock.advance(seconds=31)  # the board reads the forecast again at most every 30 seconds
    busy = client.get("/supervisor/board.json?lang=en").get_json()["forecast"]
    general = next(q for q in busy["queues"] if q["queue"] == "general")
    assert general["source"] == "forecast" and general["beyond_seconds"] > 0 and general["beyond"]
    assert busy["advice_agents"] >= 1
    assert busy["advice"].startswith(f"{busy['advice_agents']} more agents until ")
    assert busy["advice"].endswith(" would keep every promise.")
    persian = client.get("/supervisor/board.json?lang=fa").get_json()["forecast"]
    assert "کارشناس بیشتر تا ساعت" in persian["advice"]
