"""How big each process is: a web worker and the callback worker at rest, and what the web app imports.

- web worker at rest: gunicorn -w 2 with the project's configuration, after one request of each phone step (the
  largest worker's VmRSS); beside it the Twilio sample's worker measured the same way.
- `create_app()` in a fresh interpreter: RSS, peak RSS, modules imported, and the packages that import the most.
- `ivr worker` at rest (SQLite, Twilio as the provider): RSS after a few ticks.
- the chosen stack's floor (`bench.peers.floors`): the libraries the design mandates for each process, imported in a
  fresh interpreter with nothing of ours; for the web also served by gunicorn (`bench.peers.stack_floor`) and measured
  as the sample is. The web worker and `ivr worker` are printed beside it: the ratio is the share of their RSS that
  is the stack's, the difference is ours.
Goals: a web process <= 60 MiB, a worker <= 50 MiB.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import ROOT, Prepared, Row, Run, Server, database, http, rss_kib
from bench.peers.floors import WEB_FLOOR, WORKER_FLOOR
from bench.webhooks import FORM, STEPS, app_env, call_sids, signed

PROBE = r"""
import collections, json, sys
from ivr.app import create_app
create_app()
def field(name):
    for line in open("/proc/self/status"):
        if line.startswith(name):
            return int(line.split()[1]) / 1024
tops = collections.Counter(m.split(".")[0] for m in sys.modules)
print(json.dumps({"rss": field("VmRSS:"), "hwm": field("VmHWM:"), "modules": len(sys.modules),
                  "top": tops.most_common(12)}))
"""

FLOOR_PROBE = r"""
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
rss = next(int(line.split()[1]) / 1024 for line in open("/proc/self/status") if line.startswith("VmRSS:"))
print(json.dumps({"rss": rss, "modules": len(sys.modules)}))
"""


def floor(names: tuple[str, ...]) -> dict[str, float]:
    """RSS (MiB) and modules of a fresh interpreter that imports `names` and nothing of ours (run outside the
    project, so that nothing of ours is on its path)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", FLOOR_PROBE, *names], env=env, cwd=tempfile.gettempdir(),
                          capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(run: Run) -> None:
    print("# Memory: RSS of each process at rest, and what create_app() imports", flush=True)
    with database("sqlite") as url, tempfile.TemporaryDirectory(prefix="bench-instance-") as instance:
        env = {**os.environ, **app_env(url, "http://127.0.0.1:5000", instance), "PYTHONPATH": str(ROOT)}
        probe = json.loads(subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True,
                                          text=True, check=True).stdout.strip().splitlines()[-1])
        run.add(Row("memory", "create_app() in a fresh interpreter: RSS", round(probe["rss"], 1), "MiB",
                    goal="<= 60 MiB", higher_is_better=False, detail=probe))
        run.add(Row("memory", "create_app(): peak RSS", round(probe["hwm"], 1), "MiB", higher_is_better=False))
        run.add(Row("memory", "create_app(): modules imported", probe["modules"], "modules", higher_is_better=False,
                    detail={"top_packages": probe["top"]}))
        print("    most modules: " + ", ".join(f"{name} {n}" for name, n in probe["top"]), flush=True)
        web_floor = floor(WEB_FLOOR)
        run.add(Row("memory", "stack's floor, web: its libraries alone", round(web_floor["rss"], 1), "MiB",
                    higher_is_better=False, detail={"modules": web_floor["modules"], "imports": list(WEB_FLOOR)}))

        with Server("bench.peers.twilio_sample:app") as peer:
            http(peer.base, Prepared("POST", "/ivr/welcome", "CallSid=CA1", tuple(FORM.items())))
            time.sleep(0.5)
            peer_rss = max(peer.worker_rss_mib())
        with Server("bench.peers.stack_floor:app") as floor_server:
            http(floor_server.base, Prepared("POST", "/twilio/voice", "CallSid=CA1", tuple(FORM.items())))
            time.sleep(0.5)
            floor_worker_rss = max(floor_server.worker_rss_mib())
        server = Server("ivr.app:create_app()", project_config=True)
        server.env.update(app_env(url, server.base, instance))
        with server:
            for step, build in STEPS.items():
                status, text = http(server.base, signed(server.base, *build(server.base, call_sids(1)[0])))
                assert status in (200, 204), f"{step}: {status} {text[:200]}"
            time.sleep(0.5)
            rss = server.worker_rss_mib()
            run.add(Row("memory", "web worker at rest (after one of each step)", max(rss), "MiB", peer=peer_rss,
                        peer_name="sample worker", goal="<= 60 MiB", higher_is_better=False,
                        detail={"workers": rss, "master": server.master_rss_mib()}))
            run.add(Row("memory", "web worker at rest, beside the stack's floor", max(rss), "MiB",
                        peer=floor_worker_rss, peer_name="stack floor worker", higher_is_better=False,
                        detail={"ours_mib": round(max(rss) - floor_worker_rss, 1)}))

        worker_env = {**env, "TELEPHONY": "twilio", "WORKER_METRICS_PORT": "0",
                      "TWILIO_API_BASE_URL": "http://127.0.0.1:9"}
        proc = subprocess.Popen([str(Path(sys.executable).parent / "ivr"), "worker"], env=worker_env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(6)
            worker_rss = round(rss_kib(proc.pid) / 1024, 1)
            alive = proc.poll() is None
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        run.add(Row("memory", "ivr worker at rest" + ("" if alive else " (EXITED)"), worker_rss, "MiB",
                    goal="<= 50 MiB", higher_is_better=False))
        worker_floor = floor(WORKER_FLOOR)
        run.add(Row("memory", "stack's floor, worker: its libraries alone", round(worker_floor["rss"], 1), "MiB",
                    higher_is_better=False,
                    detail={"modules": worker_floor["modules"], "imports": list(WORKER_FLOOR)}))
        run.add(Row("memory", "ivr worker at rest, beside the stack's floor", worker_rss, "MiB",
                    peer=round(worker_floor["rss"], 1), peer_name="stack floor", higher_is_better=False,
                    detail={"ours_mib": round(worker_rss - worker_floor["rss"], 1)}))
