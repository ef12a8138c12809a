"""Health endpoints: alive, and ready only when the database answers at the current schema."""

from callbacks.db import Database
from ivr.app import create_app


def test_healthz_says_the_process_is_alive(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_is_ok_when_the_schema_is_current(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["database"] == "ok"


def test_readyz_is_503_when_the_database_was_never_migrated(app_config, centre, clock, tmp_path):
    empty = Database(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    app = create_app({**app_config, "DATABASE": empty, "CENTRE": centre, "CLOCK": clock})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "schema not current"
    empty.dispose()


def test_readyz_is_503_when_the_database_is_unreachable(app_config, centre, clock):
    down = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    app = create_app({**app_config, "DATABASE": down, "CENTRE": centre, "CLOCK": clock})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["database"].startswith("unreachable")
    down.dispose()


def test_metrics_report_callbacks_by_status_for_prometheus(client, app):
    app.extensions["ivr"].service.request(phone="09121234567", channel="api", actor="t")
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'ivr_callbacks{queue="general",status="pending"} 1.0' in text
    assert "ivr_database_up 1.0" in text
    assert 'ivr_http_responses_total{endpoint="health.healthz",status="200"}' in text


def test_each_response_is_counted_once_in_the_series_of_its_endpoint_and_status(client):
    for path in ("/healthz", "/healthz", "/no-such-page"):
        client.get(path)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'ivr_http_responses_total{endpoint="health.healthz",status="200"} 2.0' in text
    assert 'ivr_http_responses_total{endpoint="unknown",status="404"} 1.0' in text
    assert 'ivr_http_request_duration_seconds_count{endpoint="health.healthz",method="GET"} 2.0' in text
    assert 'ivr_http_request_duration_seconds_count{endpoint="unknown",method="GET"} 1.0' in text
