"""A soak: steady simulated traffic through real processes for SECONDS (default 1200), the worker restarted at
random (SIGTERM or kill -9), then the books are checked.

    .venv/bin/python -m bench.soak [SECONDS]

The web runs under gunicorn (`ivr serve`), the worker is `ivr worker`, both on a PostgreSQL cluster of the run's
own, dialing through the real `twilio` client into the Twilio stand-in. Callers ring the line every two seconds
(opening hours, a callback on their own number, a callback on another number) and a partner system posts a
callback through the API every ten; the pretend phone network of bench/chaos.py answers the worker's calls,
presses 1, talks and hangs up through our signed TwiML webhooks. Figures: resident memory of the web's workers and
of the worker at the start (after a minute's warm-up) and at the end, callbacks requested and how each ended, and
what must be zero (dialed twice, stuck, agents leaked, webhook errors).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import requests
from sqlalchemy import func, select

from bench import chaos
from bench.drills import IVR, Phone, installation, private_postgres, seed_agents, wait_until
from bench.harness import children, rss_kib
from callbacks.db import Database
from callbacks.models import Callback

WARM_UP = 60.0
AGENTS = 6


class HttpClient:
    """What bench/chaos.py's network needs of a client (post, status_code, data), over HTTP to a real server."""

    def __init__(self, base: str):
        self.base = base
        self.session = requests.Session()
        self.lock = threading.Lock()

    def post(self, path: str, data: dict[str, str], headers: dict[str, str]) -> Any:
        try:
            response = requests.post(self.base + path, data=data, headers=headers, timeout=15)
        except requests.RequestException:
            return SimpleNamespace(status_code=0, data=b"<Response><Hangup/></Response>")
        return SimpleNamespace(status_code=response.status_code, data=response.content)


class Workers:
    """`ivr worker`, restarted now and then; remembers each incarnation's memory."""

    def __init__(self, env: dict[str, str], folder: Path):
        self.env = env
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.incarnations: list[dict[str, Any]] = []
        self.events: Counter[str] = Counter()
        self.log: Any = None

    def start(self) -> None:
        self._close_log()
        self.log = open(self.folder / f"worker-{len(self.incarnations)}.log", "wb")  # closed by stop()
        self.process = subprocess.Popen([*IVR, "worker"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                        cwd=chaos.ROOT)
        self.started = time.monotonic()
        self.incarnations.append({"pid": self.process.pid, "rss_kib": []})

    def sample(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.incarnations[-1]["rss_kib"].append(rss_kib(self.process.pid))

    def restart(self, rng: random.Random) -> None:
        assert self.process is not None
        self.sample()
        if rng.random() < 0.5:
            self.process.send_signal(signal.SIGTERM)
            self.events["SIGTERM"] += 1
        else:
            self.process.kill()
            self.events["kill -9"] += 1
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        time.sleep(rng.uniform(0, 5))
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.sample()
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None


def web_rss(master: int) -> int:
    return sum(rss_kib(pid) for pid in children(master))


def main(seconds: float = 1200.0, seed: int = 11,
         restart_every: tuple[float, float] = (60, 150), lease: str = "30s") -> dict[str, Any]:
    rng = random.Random(seed)
    folder = Path(tempfile.mkdtemp(prefix="ivr-soak-"))
    stub = chaos.make_stub(rng)
    stub.faults = False
    queues: dict[str, dict[str, Any]] = {
        "retry": {"delays": ["20s"], "max_attempts": 3, "ring_timeout": "10s", "min_talk_time": "2s"},
        "sla": {"clock": "wall", "deadline": "2h"},
    }
    report: dict[str, Any] = {"seconds": seconds}
    with private_postgres() as pg, installation(folder, pg.url, stub=stub, queues=queues, lease=lease,
                                                 wrap_up="2s") as inst:
        inst.env["TWILIO_AUTH_TOKEN"] = chaos.TOKEN
        seed_agents(pg.url, AGENTS)
        from tests.support.servers import run_ivr

        key = run_ivr(inst.env, "api-key", "create", "soak").stdout.strip()
        workers = Workers(inst.env, folder)
        with inst.web(workers=2) as (web, base):
            master = web.process.pid
            network = chaos.Network(stub, HttpClient(base), rng, lossy=False)
            threading.Thread(target=network.run, daemon=True).start()
            workers.start()
            answers: Counter[str] = Counter()
            api_refs: set[str] = set()
            phones: list[Phone] = []
            started = time.monotonic()
            next_restart = started + rng.uniform(*restart_every)
            web_start = worker_start = 0
            tick = 0
            while time.monotonic() - started < seconds:
                tick += 1
                time.sleep(2)
                caller = f"+98912{rng.randrange(300):07d}"
                keys = rng.choice([["3"], ["4", "1"], ["4", "1"], ["4", "2", "0912" + f"{rng.randrange(10**7):07d}",
                                                                   "1"]])
                phone = Phone(base, f"CA{tick:032x}", caller, token=chaos.TOKEN)
                phone.walk(keys)
                phone.post("/twilio/status", {"CallStatus": "completed", "SequenceNumber": "9",
                                              "CallDuration": "30"})
                phones.append(phone)
                for answer in phone.answers:
                    answers[f"{answer.status}{'' if answer.twiml or answer.status == 204 else ' not TwiML'}"] += 1
                if tick % 5 == 0:
                    posted = requests.post(base + "/api/v1/callbacks", timeout=15,
                                           headers={"Authorization": f"Bearer {key}"},
                                           json={"phone": f"+98912{rng.randrange(300, 600):07d}", "language": "en"})
                    answers[f"api {posted.status_code}"] += 1
                    if posted.status_code in (200, 201):
                        api_refs.add(posted.json()["reference"])
                now = time.monotonic()
                if now - started >= WARM_UP and not web_start:
                    web_start, worker_start = web_rss(master), rss_kib(workers.process.pid)  # type: ignore[union-attr]
                if tick % 5 == 0:
                    workers.sample()
                if now > next_restart:
                    workers.restart(rng)
                    next_restart = now + rng.uniform(*restart_every)
            # Traffic stops; the worker runs on until every call has ended and every lease has been settled.
            db = Database(pg.url)

            def settled() -> bool:
                with db.session() as session:
                    dialing = session.scalar(select(Callback.id).where(Callback.status == "dialing").limit(1))
                return dialing is None and all(leg.ended for leg in list(network.legs.values()))

            wait_until(settled, 150, step=2)
            web_end = web_rss(master)
            workers.sample()
            worker_end = workers.incarnations[-1]["rss_kib"][-1] if workers.incarnations[-1]["rss_kib"] else 0
            workers.stop()
            # A round the worker was running when asked to stop finishes: its calls end through their status
            # callbacks, which the network and the web still deliver.
            wait_until(settled, 150, step=2)
            network.stop.set()
            books = chaos.summarise(db, stub, network, Counter(), int(seconds))
            with db.session() as session:
                stored_refs = {r.replace("-", "") for r in session.scalars(select(Callback.reference))}
                by_channel = Counter(session.scalars(select(Callback.channel)))
                # Open callbacks are accounted for when they still have a next attempt before their deadline.
                overdue_open = session.scalar(select(func.count()).select_from(Callback).where(
                    Callback.status.in_(("pending", "dialing")), Callback.deadline_at <= datetime.now(UTC)))
            db.dispose()
        heard = {m.group(1).replace(" ", "") for p in phones for a in p.answers
                 for m in [re.search(r"[Yy]our reference is ([A-Z0-9 ]+)\.", a.said)] if m}
        report.update({
            "inbound_calls": len(phones), "webhook_answers": dict(answers),
            "web_rss_mib": [round(web_start / 1024, 1), round(web_end / 1024, 1)],
            "worker_rss_mib": [round(worker_start / 1024, 1), round(worker_end / 1024, 1)],
            "worker_incarnations": [{"pid": w["pid"], "rss_mib": [round(w["rss_kib"][0] / 1024, 1),
                                                                  round(w["rss_kib"][-1] / 1024, 1)]}
                                    for w in workers.incarnations if w["rss_kib"]],
            "worker_restarts": dict(workers.events),
            "phone_references_heard": len(heard), "phone_references_missing": len(heard - stored_refs),
            "callbacks_by_channel": dict(by_channel), "open_past_deadline": overdue_open,
            "api_callbacks": len(api_refs),
            "api_callbacks_missing": len({r.replace("-", "") for r in api_refs} - stored_refs),
            **{k: books[k] for k in ("callbacks", "by_status", "attempts", "calls_placed", "conversations",
                                     "duplicates", "stuck", "agents_leaked", "twiml_errors")},
        })
    if any(report[k] for k in ("duplicates", "stuck", "agents_leaked", "twiml_errors", "open_past_deadline")):
        # Something must be explained: the workers' logs stay, and the report says where.
        report["logs_kept_in"] = str(folder)
    else:
        shutil.rmtree(folder, ignore_errors=True)  # kept (with the workers' logs) only when the run failed
    return report


if __name__ == "__main__":
    print(json.dumps(main(float(sys.argv[1]) if len(sys.argv) > 1 else 1200.0), indent=2, default=str))
    os._exit(0)  # the network's daemon thread may still be inside a request
