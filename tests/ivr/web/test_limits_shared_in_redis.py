"""Several web processes share abuse limits through Redis (RATELIMIT_STORAGE_URL)."""

import os
import uuid

import pytest

from ivr.app import create_app

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_url():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"Redis not reachable at {REDIS_URL}: {exc} (required in CI)")
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    return REDIS_URL


def test_two_web_processes_share_the_per_number_limit(redis_url, app_config, db, centre, clock, tmp_path):
    from callbacks.apikeys import create_api_key
    from ivr.web.ratelimit import limiter

    config = {**app_config, "ratelimit_storage_url": redis_url, "DATABASE": db, "CENTRE": centre, "CLOCK": clock}
    # A fresh key prefix keeps this run's counters apart from any earlier run's.
    config["RATELIMIT_KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    first, second = create_app(config), create_app(config)
    key = create_api_key(db, "shared", clock.now())
    headers = {"Authorization": f"Bearer {key}"}
    try:
        codes = []
        for n in range(6):
            app = first if n % 2 == 0 else second
            response = app.test_client().post("/api/v1/callbacks", json={"phone": "09121234567"}, headers=headers)
            codes.append(response.status_code)
        assert codes[:5] == [201, 200, 200, 200, 200]
        assert codes[5] == 429
        # The counters live in Redis, where every other web process reads them too.
        import redis

        stored = redis.Redis.from_url(redis_url).keys(f"*{config['RATELIMIT_KEY_PREFIX']}*")
        assert any(b"phone" in k for k in stored)
    finally:
        limiter.reset()
