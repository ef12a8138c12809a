"""A web process imports what its configuration uses: with Twilio as the telephony, not the built-in simulator; to
answer its readiness probe (the schema's revision), not Alembic; and what only a page or a log-in needs (the form
library, translations' catalogues and Jalali dates, the password hasher) when the first page or log-in comes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.servers import ROOT, ivr_env

BUILD_AND_LIST_MODULES = """
import json, sys
from ivr.app import create_app
app = create_app()
ready = app.test_client().get("/readyz")
print(json.dumps({"modules": sorted(sys.modules), "blueprints": sorted(app.blueprints), "ready": ready.status_code}))
"""


def _built(env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", BUILD_AND_LIST_MODULES], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_with_twilio_the_simulator_is_neither_mounted_nor_imported(sqlite_db: Any, tmp_path: Path) -> None:
    built = _built(ivr_env(tmp_path, sqlite_db.url, TELEPHONY="twilio", TWILIO_PHONE_NUMBER="+982191000000",
                           TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN="t" * 32))
    assert [m for m in built["modules"] if m.startswith("telephony.simulator")] == []
    assert "simulator" not in built["blueprints"]


def test_the_readiness_probe_reads_the_schema_revision_without_alembic(sqlite_db: Any, tmp_path: Path) -> None:
    built = _built(ivr_env(tmp_path, sqlite_db.url, TELEPHONY="twilio", TWILIO_PHONE_NUMBER="+982191000000"))
    assert built["ready"] == 200  # the migrated test database is at this release's revision
    assert [m for m in built["modules"] if m.split(".")[0] in ("alembic", "mako")] == []


def test_at_rest_it_holds_nothing_only_a_page_or_a_log_in_needs(sqlite_db: Any, tmp_path: Path) -> None:
    built = _built(ivr_env(tmp_path, sqlite_db.url, TELEPHONY="twilio", TWILIO_PHONE_NUMBER="+982191000000",
                           TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN="t" * 32))
    assert built["ready"] == 200
    page_only = ("flask_wtf", "wtforms", "babel", "jdatetime", "argon2")
    assert [m for m in built["modules"] if m.split(".")[0] in page_only] == []


def test_with_the_simulator_it_is_mounted(sqlite_db: Any, tmp_path: Path) -> None:
    env = {k: v for k, v in ivr_env(tmp_path, sqlite_db.url).items() if not k.startswith("TWILIO_")}
    built = _built({**env, "TELEPHONY": "simulator", "PUBLIC_BASE_URL": "http://127.0.0.1:5000"})
    assert "telephony.simulator.engine" in built["modules"]
    assert "simulator" in built["blueprints"]
