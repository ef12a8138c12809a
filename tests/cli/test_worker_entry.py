"""`ivr worker` is a long-running process: it starts through the console script without the web app's stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.servers import ROOT, ivr_env

RUN_AND_LIST_MODULES = """
import json, sys
sys.argv = ["ivr", "worker", "--once"]
from cli.entry import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def test_a_worker_runs_its_jobs_once_without_importing_the_web_app(sqlite_db, tmp_path: Path) -> None:
    env = ivr_env(tmp_path, sqlite_db.url, TELEPHONY="twilio", TWILIO_PHONE_NUMBER="+982191000000",
                  TWILIO_ACCOUNT_SID="AC" + "0" * 32, WORKER_METRICS_PORT="0")
    done = subprocess.run([sys.executable, "-c", RUN_AND_LIST_MODULES], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] in (0, None), done.stderr[-2000:]
    # Nor what only pages read (Babel's locales, Jalali dates): the digest is written in English.
    heavy = [m for m in result["modules"] if m.split(".")[0] in ("flask", "werkzeug", "jinja2", "ivr", "gunicorn",
                                                                   "alembic", "mako", "babel", "jdatetime")]
    assert heavy == []


def test_every_other_command_still_goes_through_the_whole_command(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "from cli.entry import main; main()", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for command in ("worker", "serve", "db", "agent", "report"):
        assert command in done.stdout
