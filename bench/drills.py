"""Outage drills with real processes: the web under gunicorn (`ivr serve`), the worker (`ivr worker`), a PostgreSQL
cluster of the drill's own, and the Twilio stand-in for the provider.

    .venv/bin/python -m bench.drills postgres [OUTAGE_SECONDS]   (default 60)
    .venv/bin/python -m bench.drills worker [DOWN_SECONDS]       (default 600, on a moved clock: no real wait)
    .venv/bin/python -m bench.drills web

Every drill starts its own PostgreSQL cluster (initdb into a temporary folder, a free port, trust auth; run as the
`postgres` user when we are root) and stops and starts only that one: a shared server is never touched.
Each prints its figures and what must hold; tests/deploy/test_outage_drills.py runs the same drills, shorter.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import yaml
from lxml import etree
from sqlalchemy import func, insert, select
from twilio.request_validator import RequestValidator

from callbacks.agents import add_agent
from callbacks.db import Database, upgrade
from callbacks.models import Attempt, Callback, CallbackEvent
from config.settings import EXAMPLE_CONFIG

ROOT = Path(__file__).resolve().parents[1]
IVR = [sys.executable, "-c", "from cli.entry import main; main()"]
PUBLIC = "https://support.example.com"
TOKEN = "drill-token"
ACCOUNT = "AC" + "0123456789abcdef" * 2
CALLER_ID = "+14155550100"
ENGLISH_LINE = "+442080000000"  # the example's English number: the tree speaks English
WEBHOOK_BUDGET = 5.0  # seconds a webhook may take during an outage (Twilio waits 15)


# -- a PostgreSQL cluster of our own -------------------------------------------------------------------------------
def postgres_bin() -> Path:
    """The folder of initdb and pg_ctl: PG_BIN, else the newest /usr/lib/postgresql/*/bin, else the PATH's."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if found:
        return Path(found[-1])
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("no PostgreSQL binaries: set PG_BIN to the folder holding initdb and pg_ctl")
    return Path(initdb).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivatePostgres:
    """A throw-away PostgreSQL cluster (initdb, trust auth, a free port) that a drill may stop and start at will."""

    def __init__(self) -> None:
        # A folder of its own under the system's temporary folder: the server's user must reach it.
        self.folder = Path(tempfile.mkdtemp(prefix="ivr-drill-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.bin = postgres_bin()
        # PostgreSQL refuses to run as root: then the cluster belongs to the `postgres` user.
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self.running = False

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        command = [str(self.bin / argv[0]), *argv[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)}: {done.stdout}\n{done.stderr}")

    def init(self) -> PrivatePostgres:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -F -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-o", options, "-w",
                  "-t", "60", "start")
        self.running = True

    def stop(self) -> None:
        """A fast shutdown: clients are disconnected, as when the server goes away."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        self.running = False

    def destroy(self) -> None:
        if self.running:
            try:
                self.stop()
            except RuntimeError:
                pass
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres().init()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


# -- an installation: settings, the Twilio stand-in, the two services ------------------------------------------------
def drill_config(folder: Path, queues: dict[str, dict[str, Any]] | None = None, **dispatch: Any) -> Path:
    """The example centre, open around the clock with no holidays, dialing as fast as the drills need; `queues`
    updates every queue's sections (e.g. {"retry": {"delays": ["20s"]}})."""
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    for queue in data["queues"].values():
        for section, values in (queues or {}).items():
            queue.setdefault(section, {}).update(values)
    data["hours"] = {day: ["00:00-24:00"] for day in
                     ("saturday", "sunday", "monday", "tuesday", "wednesday", "thursday", "friday")}
    data["holidays"] = {"country": None, "extra": [], "open_anyway": []}
    data["dispatch"].update({"calls_per_second": 20, "tick": "1s", "wrap_up": "1s", **dispatch})
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "drill.yaml"
    target.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


@dataclass
class Installation:
    """What an operator's env file gives both services, with the Twilio stand-in as the provider."""

    folder: Path
    url: str
    stub: Any
    env: dict[str, str]

    @contextmanager
    def web(self, workers: int = 2) -> Iterator[tuple[Any, str]]:
        from tests.support.servers import gunicorn

        with gunicorn(self.env, workers=workers) as (server, base):
            yield server, base

    @contextmanager
    def worker(self, *argv: str) -> Iterator[Any]:
        from tests.support.servers import background

        with background([*(argv or (*IVR, "worker"))], self.env) as running:
            yield running

    @property
    def spool(self) -> Path:
        return self.folder / "instance" / "spool"

    def placed_calls(self) -> list[dict[str, Any]]:
        """Calls the worker asked the provider for (not the legs a <Dial> made), oldest first."""
        return [c for c in list(self.stub.calls.values()) if c.get("_url")]


@contextmanager
def installation(folder: Path, url: str, stub: Any = None, queues: dict[str, dict[str, Any]] | None = None,
                 **dispatch: Any) -> Iterator[Installation]:
    from telephony.twilio_standin import TwilioStub
    from tests.support.servers import ivr_env

    upgrade(url)
    stub = stub or TwilioStub(auth_token=TOKEN)
    base = stub.start()
    try:
        stub.add_number(CALLER_ID, ACCOUNT)
        stub.allow_country("IR")
        env = ivr_env(folder, url, TELEPHONY="twilio", TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TOKEN,
                      TWILIO_API_BASE_URL=base, TWILIO_PHONE_NUMBER=CALLER_ID, RATELIMIT_STORAGE_URL="memory://",
                      IVR_CONFIG=str(drill_config(folder, queues, **dispatch)), WEB_CONCURRENCY="2")
        yield Installation(folder, url, stub, env)
    finally:
        stub.stop()


def seed_callbacks(url: str, count: int, *, due: datetime, deadline: datetime, prefix: str,
                   first: int = 0) -> None:
    """`count` pending callbacks of the general queue, due at `due`, owed by `deadline`."""
    if count == 0:
        return
    db = Database(url)
    rows = [{
        "public_id": uuid.uuid4().hex, "reference": f"{prefix}{first + i:07d}",
        "status_token_hash": secrets.token_hex(32), "queue": "general", "phone": f"+98912{first + i:07d}",
        "language": "en", "channel": "api", "status": "pending",
        "priority": 0, "requested_at": due - timedelta(minutes=1), "deadline_at": deadline, "next_attempt_at": due,
        "attempts_made": 0, "version": 1,
    } for i in range(count)]
    with db.session() as session:
        session.execute(insert(Callback), rows)
    db.dispose()


def seed_agents(url: str, count: int, first: int = 0) -> None:
    db = Database(url)
    now = datetime.now(UTC)
    for i in range(first, first + count):
        add_agent(db, f"drill agent {i}", f"+98935{i:07d}", now, "IR")
    db.dispose()


def attempt_of(call: dict[str, Any]) -> int | None:
    values = parse_qs(urlsplit(call.get("_url") or "").query).get("attempt")
    return int(values[0]) if values else None


def calls_per_attempt(inst: Installation) -> Counter[int]:
    return Counter(a for a in (attempt_of(c) for c in inst.placed_calls()) if a is not None)


def wait_until(condition: Any, seconds: float, step: float = 0.5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


# -- a caller on the phone tree, over HTTP ---------------------------------------------------------------------------
@dataclass
class Webhook:
    """One webhook as Twilio saw it: how long it took, its status, whether the answer was valid TwiML."""

    path: str
    status: int
    seconds: float
    twiml: bool
    said: str = ""


@dataclass
class Phone:
    """Twilio's side of one call: signed webhooks to the web process, following Gather and Redirect."""

    base: str
    call_sid: str
    caller: str
    called: str = ENGLISH_LINE
    answers: list[Webhook] = field(default_factory=list)
    last: Any = None  # the last valid TwiML answer
    token: str = TOKEN

    def post(self, url: str, extra: dict[str, str] | None = None) -> Any:
        """POST as Twilio does; returns the parsed TwiML (None when the answer was not TwiML)."""
        from tests.support.phone import twiml_schema

        if not url.startswith("http"):
            url = PUBLIC + url
        form = {"CallSid": self.call_sid, "AccountSid": ACCOUNT, "From": self.caller, "To": self.called,
                "CallStatus": "in-progress", "Direction": "inbound", **(extra or {})}
        signature = RequestValidator(self.token).compute_signature(url, form)
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        started = time.monotonic()
        try:
            response = requests.post(self.base + path, data=form, headers={"X-Twilio-Signature": signature},
                                     timeout=15)
        except requests.RequestException:
            self.answers.append(Webhook(parts.path, 0, time.monotonic() - started, False))
            return None
        seconds = time.monotonic() - started
        root, valid = None, False
        if response.headers.get("Content-Type", "").startswith("text/xml"):
            try:
                root = etree.fromstring(response.content)
                schema = twiml_schema()
                valid = schema is None or bool(schema.validate(root))
            except etree.XMLSyntaxError:
                root = None
        said = " ".join(el.text or "" for el in root.iter("Say")) if root is not None else ""
        self.answers.append(Webhook(parts.path, response.status_code, seconds, valid, said))
        if valid:
            self.last = root
        return root if valid else None

    def walk(self, keys: list[str], limit: int = 12) -> Phone:
        """Dial in, press `keys` one by one at each Gather, follow every Redirect; stop at a Gather when the keys
        are used up, and at anything else."""
        keys = list(keys)
        root = self.post("/twilio/voice", {"CallStatus": "ringing"})
        for _ in range(limit):
            if root is None:
                break
            gather, redirect = root.find("Gather"), root.find("Redirect")
            if gather is not None:
                if not keys:
                    break  # the caller is listening to a menu
                root = self.post(gather.get("action"), {"Digits": keys.pop(0)})
            elif redirect is not None:
                root = self.post(redirect.text)
            else:
                break
        return self


def webhook_figures(answers: list[Webhook]) -> dict[str, Any]:
    times = sorted(a.seconds for a in answers)
    return {
        "webhooks": len(answers),
        "max_s": round(times[-1], 2) if times else 0.0,
        "p95_s": round(times[int(0.95 * (len(times) - 1))], 2) if times else 0.0,
        "over_budget": sum(1 for a in answers if a.seconds > WEBHOOK_BUDGET),
        "not_twiml": sum(1 for a in answers if not a.twiml),
        "unanswered": sum(1 for a in answers if a.status == 0),
        "bare_5xx": sum(1 for a in answers if a.status >= 500 and not a.twiml),
        "status_503_twiml": sum(1 for a in answers if a.status == 503 and a.twiml),
    }


# -- drill 1: PostgreSQL down ----------------------------------------------------------------------------------------
def postgres_drill(outage: float = 60.0, folder: Path | None = None, callers_every: float = 2.0,
                   due_during: int = 6) -> dict[str, Any]:
    """Stop the database for `outage` seconds while a call is ringing an agent, callbacks fall due and callers
    book callbacks; then start it again and watch the services recover on their own."""
    folder = Path(folder or tempfile.mkdtemp(prefix="ivr-drill-"))
    report: dict[str, Any] = {"drill": "postgres", "outage_s": outage}
    with private_postgres() as pg, installation(folder, pg.url) as inst:
        seed_agents(pg.url, due_during + 1)
        now = datetime.now(UTC)
        seed_callbacks(pg.url, 1, due=now, deadline=now + timedelta(hours=2), prefix="B")
        with inst.web() as (_web, base), inst.worker() as worker:
            assert wait_until(lambda: len(inst.placed_calls()) >= 1, 60), "\n".join(worker.lines[-30:])
            ringing = inst.placed_calls()[0]
            # The callbacks that fall due while the database is down (their time comes half-way through).
            stop_at = datetime.now(UTC) + timedelta(seconds=1)
            seed_callbacks(pg.url, due_during, due=stop_at + timedelta(seconds=outage / 2),
                           deadline=stop_at + timedelta(hours=2), prefix="D", first=1)
            Phone(base, "CA" + "1" * 32, "+989120000001").walk([])  # wakes each process's spool replay
            Phone(base, "CA" + "2" * 32, "+989120000002").walk([])
            pg.stop()
            stopped = time.monotonic()
            phones: list[Phone] = []
            spooled: dict[str, dict[str, Any]] = {}
            threads: list[threading.Thread] = []
            index = 0
            while time.monotonic() - stopped < outage:
                index += 1
                phone = Phone(base, f"CA{index:032x}", f"+98912{9000000 + index:07d}")
                phones.append(phone)
                thread = threading.Thread(target=phone.walk, args=(["4", "1"],), daemon=True)
                thread.start()
                threads.append(thread)
                # Twilio's other webhooks meanwhile: the ringing agent answers, and its status arrives.
                twilio = Phone(base, ringing["sid"], CALLER_ID, called="+989350000000")
                phones.append(twilio)
                twilio.post(ringing["_url"], {"Direction": "outbound-api"})
                twilio.post(ringing["_status_callback"], {"CallStatus": "ringing", "SequenceNumber": str(index)})
                for path in inst.spool.glob("*.json"):
                    spooled.setdefault(path.name, json.loads(path.read_text()))
                time.sleep(callers_every)
            for thread in threads:
                thread.join(30)
            for path in inst.spool.glob("*.json"):
                spooled.setdefault(path.name, json.loads(path.read_text()))
            pg.start()
            restarted = time.monotonic()
            db = Database(pg.url)
            due_refs = [f"D{i:07d}" for i in range(1, due_during + 1)]

            def dialed_after() -> int:
                with db.session() as session:
                    return session.scalar(select(func.count()).select_from(Attempt).join(
                        Callback, Callback.id == Attempt.callback_id).where(Callback.reference.in_(due_refs))) or 0

            recovered = wait_until(lambda: dialed_after() >= due_during, 90)
            report["worker_recovered_s"] = round(time.monotonic() - restarted, 1) if recovered else None
            stored = wait_until(lambda: not list(inst.spool.glob("*.json")), 90)
            report["spool_emptied_s"] = round(time.monotonic() - restarted, 1) if stored else None
            time.sleep(3)  # a few more ticks: anything dialed twice would show now
            report["worker_alive"] = worker.process.poll() is None
            with db.session() as session:
                booked = dict(session.execute(select(Callback.phone, Callback.deadline_at)
                                              .where(Callback.channel == "phone")).all())
                late = list(session.scalars(select(CallbackEvent.actor).where(CallbackEvent.actor.like("spool:%"))))
            db.dispose()
        answers = [a for phone in phones for a in phone.answers]
        report.update(webhook_figures(answers))
        report["callers"] = sum(1 for p in phones if p.called == ENGLISH_LINE)
        report["promised"] = sum(1 for p in phones if any("call you back by" in a.said for a in p.answers))
        report["spooled"] = len(spooled)
        report["stored_from_spool"] = len(late)
        report["deadline_kept"] = sum(
            1 for s in spooled.values()
            if booked.get(s["phone"]) == datetime.fromisoformat(s["deadline_at"]))
        report["due_during_outage"] = due_during
        report["due_dialed_after"] = dialed_after_count(inst, due_refs, pg.url)
        per_attempt = calls_per_attempt(inst)
        report["calls_placed"] = sum(per_attempt.values())
        report["dialed_twice"] = sum(n - 1 for n in per_attempt.values() if n > 1)
    shutil.rmtree(folder, ignore_errors=True)
    return report


def dialed_after_count(inst: Installation, refs: list[str], url: str) -> int:
    """How many of the callbacks `refs` had a call placed for them."""
    attempts = set(calls_per_attempt(inst))
    db = Database(url)
    with db.session() as session:
        ids = list(session.scalars(select(Attempt.id).join(Callback, Callback.id == Attempt.callback_id)
                                   .where(Callback.reference.in_(refs))))
    db.dispose()
    return sum(1 for a in ids if a in attempts)


# -- drill 2: the worker down ----------------------------------------------------------------------------------------
def worker_main(args: dict[str, Any]) -> None:
    """`python -m bench.drills --worker '<json>'`: the real worker (APScheduler timers, `ivr worker`'s Worker) on
    the installation's settings, with its clock moved by `offset` seconds (time that passed while it was down)."""
    from callbacks.logs import configure_logging
    from config import load_contact_centre, load_settings
    from scheduler.worker import Worker
    from telephony import provider_for

    class MovedClock:
        def __init__(self, seconds: float):
            self.offset = timedelta(seconds=seconds)

        def now(self) -> datetime:
            return datetime.now(UTC) + self.offset

    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    db = Database(settings.resolved_database_url())
    worker = Worker(db, load_contact_centre(settings.ivr_config), provider_for(settings),
                    MovedClock(args.get("offset", 0)), base_url=settings.public_base_url,
                    caller_id=settings.twilio_phone_number or CALLER_ID, worker_id=args.get("id"))
    try:
        worker.run()
    finally:
        db.dispose()


def worker_drill(down: float = 600.0, folder: Path | None = None, in_time: int = 6, too_late: int = 3,
                 pause: float = 8.0) -> dict[str, Any]:
    """The worker stops; while it is down (`down` seconds, on a moved clock) callbacks fall due, some of them
    with deadlines that pass. On restart the ones still in time are dialed, the rest closed missed with a reason.
    Then the running worker is paused (SIGSTOP) for `pause` real seconds while more fall due: APScheduler runs
    the late ticks (no misfire is skipped) and they are dialed too."""
    folder = Path(folder or tempfile.mkdtemp(prefix="ivr-drill-"))
    report: dict[str, Any] = {"drill": "worker", "down_s": down, "pause_s": pause}
    with private_postgres() as pg, installation(folder, pg.url) as inst:
        seed_agents(pg.url, in_time * 2)
        before = [*IVR, "worker", "--id", "before"]
        with inst.worker(*before) as first:
            first.wait_for(r"worker before started")
            time.sleep(1.5)
        stopped = datetime.now(UTC)
        # Due while the worker is down: in time (owed well after the restart) and too late (owed before it).
        for i in range(in_time):
            seed_callbacks(pg.url, 1, due=stopped + timedelta(seconds=down * (i + 1) / (in_time + 1)),
                           deadline=stopped + timedelta(seconds=down) + timedelta(hours=1), prefix="T", first=i)
        seed_callbacks(pg.url, too_late, due=stopped + timedelta(seconds=down / 10),
                       deadline=stopped + timedelta(seconds=down / 2), prefix="L", first=100)
        moved = [sys.executable, "-m", "bench.drills", "--worker", json.dumps({"offset": down, "id": "after"})]
        db = Database(pg.url)

        def statuses(prefix: str) -> Counter[str]:
            with db.session() as session:
                return Counter(session.scalars(select(Callback.status).where(Callback.reference.like(prefix + "%"))))

        with inst.worker(*moved) as after:
            restarted = time.monotonic()
            dialed_all = wait_until(lambda: len(calls_per_attempt(inst)) >= in_time, 60)
            report["in_time_dialed_s"] = round(time.monotonic() - restarted, 1) if dialed_all else None
            missed_all = wait_until(lambda: statuses("L")["missed"] >= too_late, 60)
            report["missed_reported_s"] = round(time.monotonic() - restarted, 1) if missed_all else None
            # A long pause of the running process: its timer's runs fall behind while two more fall due.
            due = datetime.now(UTC) + timedelta(seconds=down + pause / 2)
            seed_callbacks(pg.url, 2, due=due, deadline=due + timedelta(hours=1), prefix="P", first=200)
            after.process.send_signal(signal.SIGSTOP)
            time.sleep(pause)
            after.process.send_signal(signal.SIGCONT)
            resumed = time.monotonic()
            paused_dialed = wait_until(lambda: len(calls_per_attempt(inst)) >= in_time + 2, 30)
            report["after_pause_dialed_s"] = round(time.monotonic() - resumed, 1) if paused_dialed else None
            time.sleep(2)
            skipped = [line for line in after.lines if "was missed by" in line or "Run time of job" in line]
        with db.session() as session:
            reasons = Counter(session.scalars(
                select(CallbackEvent.reason).join(Callback, Callback.id == CallbackEvent.callback_id)
                .where(Callback.reference.like("L%"), CallbackEvent.to_status == "missed")))
            attempts = Counter(session.scalars(
                select(Callback.reference).join(Attempt, Attempt.callback_id == Callback.id)))
        db.dispose()
        per_attempt = calls_per_attempt(inst)
        report.update({
            "in_time": in_time, "in_time_dialed": sum(1 for r in attempts if r.startswith("T")),
            "in_time_missed": statuses("T")["missed"],
            "too_late": too_late, "too_late_missed": sum(reasons.values()),
            "missed_reasons": dict(reasons), "too_late_dialed": sum(1 for r in attempts if r.startswith("L")),
            "due_in_pause": 2, "due_in_pause_dialed": sum(1 for r in attempts if r.startswith("P")),
            "scheduler_misfires_logged": len(skipped), "calls_placed": sum(per_attempt.values()),
            "dialed_twice": sum(n - 1 for n in per_attempt.values() if n > 1),
        })
    shutil.rmtree(folder, ignore_errors=True)
    return report


# -- drill 3: the web restarted mid-call -----------------------------------------------------------------------------
def web_drill(folder: Path | None = None) -> dict[str, Any]:
    """A caller is two menus deep when the web process restarts: the next webhook continues the call exactly as
    it would have without the restart (compared with a caller who made the same moves on a steady server)."""
    folder = Path(folder or tempfile.mkdtemp(prefix="ivr-drill-"))
    report: dict[str, Any] = {"drill": "web"}
    moves = ["1", "2"]  # billing, then a choice in its menu
    with private_postgres() as pg, installation(folder, pg.url) as inst:
        with inst.web() as (_web, base):
            steady = Phone(base, "CA" + "a" * 32, "+989121110000").walk(moves)
            restarted = Phone(base, "CA" + "b" * 32, "+989121110001").walk(moves[:1])
            last = restarted.answers[-1]
        started = time.monotonic()
        with inst.web() as (_web, base):
            report["restart_s"] = round(time.monotonic() - started, 1)
            restarted.base = base
            # Twilio posts the key press to the Gather action of the last answer, now to a new process.
            root = restarted.post(restarted.last.find("Gather").get("action"), {"Digits": moves[1]})
            continued = restarted.answers[-1]
            report["continued_status"] = continued.status
            report["continued_twiml_valid"] = continued.twiml
            report["same_as_steady_caller"] = continued.said == steady.answers[len(moves)].said
            report["before_restart_said"] = last.said[:80]
            report["after_restart_said"] = continued.said[:80]
            report["answered"] = root is not None
    shutil.rmtree(folder, ignore_errors=True)
    return report


def print_report(report: dict[str, Any]) -> None:
    print(json.dumps(report, indent=2, default=str))


def main(argv: list[str]) -> None:
    if len(argv) > 1 and argv[0] == "--worker":
        worker_main(json.loads(argv[1]))
        return
    drill = argv[0] if argv else "postgres"
    if drill == "postgres":
        print_report(postgres_drill(float(argv[1]) if len(argv) > 1 else 60.0))
    elif drill == "worker":
        print_report(worker_drill(float(argv[1]) if len(argv) > 1 else 600.0))
    elif drill == "web":
        print_report(web_drill())
    else:
        raise SystemExit(f"unknown drill {drill!r}: postgres, worker or web")


if __name__ == "__main__":
    main(sys.argv[1:])
