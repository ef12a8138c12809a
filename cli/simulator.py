"""`ivr demo` (the whole contact centre on a laptop) and `ivr call` (a phone call from the terminal)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import click

from ivr.runtime import runtime

DEMO_AGENTS = (("Sara", "+989121110000"), ("Reza", "+989121110001"))
DEMO_CALLER = "+989121234567"
DEMO_CONFIG = "demo-centre.yaml"


# -- ivr demo ----------------------------------------------------------------------------------------------------
def demo_config(source: Path, folder: Path) -> Path:
    """The configured centre, open around the clock with no holidays, so the demo works at any hour."""
    import yaml

    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data["hours"] = {day: ["00:00-24:00"] for day in
                     ("saturday", "sunday", "monday", "tuesday", "wednesday", "thursday", "friday")}
    data["holidays"] = {"country": None, "extra": [], "open_anyway": []}
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / DEMO_CONFIG
    header = f"# Written by `ivr demo` from {source}: the same centre, open 24/7 with no holidays.\n"
    target.write_text(header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


def _ensure_agents(app: Any) -> list[str]:
    from callbacks.agents import add_agent, list_agents, set_shift

    rt = runtime(app)
    known = {a.name: a for a in list_agents(rt.db)}
    lines = []
    for name, phone in DEMO_AGENTS:
        if name not in known:
            add_agent(rt.db, name, phone, rt.clock.now(), rt.centre.phone_numbers.default_region)
        elif not known[name].on_shift:
            set_shift(rt.db, name, True, rt.clock.now())
    for agent in list_agents(rt.db):
        lines.append(f"{agent.name} {agent.phone}{'' if agent.on_shift else ' (off shift)'}")
    return lines


def _wait_for_port(host: str, port: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`ivr worker` as its own process, as in production (the SQLite lock allows this one worker)."""
    worker = subprocess.Popen([sys.executable, "-c", "from cli.entry import main; main()", "worker"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def relay() -> None:
        # The worker's own lines, without the per-tick chatter of APScheduler and of the twilio client.
        assert worker.stdout is not None
        for raw in worker.stdout:
            text = raw.decode("utf-8", "replace").rstrip()
            if " apscheduler." not in text and " twilio.http_client:" not in text:
                click.echo(f"worker | {text}")

    threading.Thread(target=relay, name="demo-worker-log", daemon=True).start()
    return worker


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int, help="Web server threads (waitress).")
@click.option("--real-hours", is_flag=True, help="Keep the configured opening hours and holidays (default: open 24/7).")
@click.option("--no-worker", is_flag=True, help="Do not start `ivr worker` (run your own).")
def demo(host: str, port: int, threads: int, real_hours: bool, no_worker: bool) -> None:
    """Run web, worker and telephony simulator on SQLite with the example menu and two demo agents."""
    import waitress

    from callbacks.db import upgrade
    from config import load_settings
    from ivr.app import create_app

    public = os.environ.get("PUBLIC_BASE_URL") or f"http://{host}:{port}"
    os.environ.update({"PUBLIC_BASE_URL": public, "TELEPHONY": "simulator"})
    settings = load_settings()
    if settings.twilio_account_sid or settings.twilio_auth_token:
        raise click.ClickException("`ivr demo` runs on the simulator; unset the TWILIO_* variables first")
    if not settings.simulator_allowed:
        raise click.ClickException(f"PUBLIC_BASE_URL {public} is not local: anyone could use the simulator there; "
                                   "set SIMULATOR_PUBLIC_DEMO=1 to do that on purpose")
    probe = create_app()  # the app decides its instance folder and database; the worker must use the same
    instance = Path(runtime(probe).settings.instance_path).resolve()
    database_url = runtime(probe).settings.resolved_database_url()
    if not real_hours:
        os.environ["IVR_CONFIG"] = str(demo_config(Path(settings.ivr_config), instance))
    upgrade(database_url)
    from telephony.simulator import simulator_account

    simulator_account(runtime(probe).settings)  # created now, read by the worker from the same instance folder
    os.environ.update({"INSTANCE_PATH": str(instance), "DATABASE_URL": database_url})
    runtime(probe).db.dispose()
    app = create_app()
    agents = _ensure_agents(app)
    sim = app.extensions["simulator"]
    sim.ensure_running()
    worker: subprocess.Popen[bytes] | None = None

    def start_worker() -> None:
        nonlocal worker
        if _wait_for_port(host if host != "0.0.0.0" else "127.0.0.1", port):  # noqa: S104 - compared, not bound
            worker = _start_worker(dict(os.environ))

    if not no_worker:
        threading.Thread(target=start_worker, name="demo-worker-starter", daemon=True).start()
    line = sim.engine.line_numbers
    click.echo(_instructions(public, agents, line, database_url, real_hours))

    def stop(_signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        waitress.serve(app, host=host, port=port, threads=threads, ident="ivr-demo")
    finally:
        sim.stop()
        if worker is not None:
            _stop_worker(worker)


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    """Stop the worker once: Ctrl-C already reached it (same process group); a SIGTERM to us alone did not."""
    try:
        worker.wait(timeout=3)
        return
    except subprocess.TimeoutExpired:
        worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        worker.kill()


def _instructions(public: str, agents: list[str], lines: list[str], database_url: str, real_hours: bool) -> str:
    english = next((n for n in lines if n.startswith("+44")), lines[0] if lines else "")
    persian = next((n for n in lines if n.startswith("+98")), "")
    hours = "configured opening hours" if real_hours else "open 24/7 for the demo (--real-hours to keep yours)"
    return "\n".join([
        "",
        "The contact centre is running on this machine: web, worker and telephony simulator.",
        f"  database:  {database_url}",
        f"  hours:     {hours}",
        f"  agents:    {'; '.join(agents)}",
        "",
        f"  Open the softphone:   {public}/simulator",
        "",
        f"  1. On \"Your phone\" ({DEMO_CALLER}), call {english} (English)"
        + (f" or {persian} (Persian)." if persian else "."),
        "  2. Press 0 for an agent: an agent's phone on the page rings. Answer it and press 1 to talk to the caller.",
        "  3. Or, while you wait, press 1 to be called back, then 1 for this number. The agent's phone stops",
        "     ringing for you, and within seconds the worker rings an agent for the callback: answer it and press 1.",
        "     Then your phone rings: answer it. Talk for 20 seconds or more, hang up: the callback is completed.",
        "",
        f"  From a terminal:      ivr call --url {public} --from {DEMO_CALLER} --press 0,1,1",
        f"  Supervisor pages:     {public}/supervisor/  (create a login with: ivr supervisor add EMAIL)",
        "  Stop with Ctrl-C.",
        "",
    ])


# -- ivr call ----------------------------------------------------------------------------------------------------
class _Line(Protocol):
    """One phone call, driven in-process (virtual time) or through a running server's softphone API."""

    def dial(self, from_: str, to: str) -> str: ...

    def state(self, sid: str) -> dict[str, Any]: ...

    def act(self, sid: str, action: str, **body: Any) -> None: ...

    def wait(self, sid: str, done: Callable[[dict[str, Any]], bool], seconds: float) -> dict[str, Any]: ...


class _LocalLine:
    def __init__(self) -> None:
        from callbacks.clock import FrozenClock, SystemClock
        from ivr.app import create_app
        from telephony.simulator.http import FlaskClientHttp

        os.environ.setdefault("TELEPHONY", "simulator")
        self.app = create_app({"SIMULATOR_THREAD": False})
        if "simulator" not in self.app.extensions:
            raise click.ClickException("--local needs the simulator (unset TWILIO_* or set TELEPHONY=simulator)")
        self.engine = self.app.extensions["simulator"].engine
        self.engine.http = FlaskClientHttp(self.app.test_client())
        # The caller's time runs as fast as the line answers; the app keeps the wall clock.
        self.engine.clock = FrozenClock(SystemClock().now())

    def dial(self, from_: str, to: str) -> str:
        return self.engine.dial_in(from_, to)

    def state(self, sid: str) -> dict[str, Any]:
        return self.engine.call(sid).public(self.engine.position(self.engine.call(sid)))

    def act(self, sid: str, action: str, **body: Any) -> None:
        {"press": lambda: self.engine.press(sid, body["digits"]), "speak": lambda: self.engine.speak(sid, body["text"]),
         "hangup": lambda: self.engine.hangup(sid)}[action]()
        self.engine.run_due()

    def wait(self, sid: str, done: Callable[[dict[str, Any]], bool], seconds: float) -> dict[str, Any]:
        self.engine.run_until(lambda: done(self.state(sid)), seconds)
        return self.state(sid)


class _RemoteLine:
    def __init__(self, url: str) -> None:
        import requests

        self.url = url.rstrip("/")
        self.http = requests.Session()
        try:
            probe = self.http.get(f"{self.url}/simulator/api/state", timeout=5)
        except requests.RequestException as exc:
            message = f"no server at {self.url} ({exc}); start one (make run) or use --local"
            raise click.ClickException(message) from None
        if probe.status_code != 200:
            raise click.ClickException(f"{self.url} has no telephony simulator (HTTP {probe.status_code})")

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.http.post(f"{self.url}/simulator/api/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def dial(self, from_: str, to: str) -> str:
        return str(self._post("calls", {"from": from_, "to": to})["sid"])

    def state(self, sid: str) -> dict[str, Any]:
        calls = self.http.get(f"{self.url}/simulator/api/state", timeout=10).json()["calls"]
        return next(c for c in calls if c["sid"] == sid)

    def act(self, sid: str, action: str, **body: Any) -> None:
        self._post(f"calls/{sid}/{action}", body)

    def wait(self, sid: str, done: Callable[[dict[str, Any]], bool], seconds: float) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while True:
            state = self.state(sid)
            if done(state) or time.monotonic() > deadline:
                return state
            time.sleep(0.25)


ENDED = ("completed", "busy", "no-answer", "failed", "canceled")
LABELS = {"say": "hears", "play": "hears (audio)", "pressed": "presses", "said": "says", "queue": "queue",
          "connected": "connected", "error": "ERROR", "ignored": "ignored", "info": "..."}


class _Printer:
    def __init__(self) -> None:
        self.shown = 0

    def show(self, state: dict[str, Any]) -> None:
        for line in state["lines"][self.shown:]:
            label = LABELS.get(line["kind"])
            if label:
                click.echo(f"  {label}: {line['text']}")
        self.shown = len(state["lines"])


@click.command("call")
@click.option("--from", "from_", default=DEMO_CALLER, show_default=True, help="The caller's number.")
@click.option("--to", default=None, help="The number called (default: the first configured line).")
@click.option("--press", default="", help="Comma-separated inputs in order: keys (1, 0, 1234#) or say:WORDS.")
@click.option("--url", default=None, help="A running server (default PUBLIC_BASE_URL).")
@click.option("--local", is_flag=True, help="Run the app in this process instead (no server needed).")
@click.option("--wait", "wait_seconds", default=60.0, show_default=True, help="Seconds to wait for each step.")
def call(from_: str, to: str | None, press: str, url: str | None, local: bool, wait_seconds: float) -> None:
    """Call the support line from the terminal: print what the caller hears, press keys, print the outcome."""
    from config import load_settings
    from config.menus import menu_of

    settings = load_settings()
    if to is None:
        from config import load_contact_centre

        numbers = list(menu_of(load_contact_centre(settings.ivr_config)).language.by_called_number)
        to = numbers[0] if numbers else "+10000000001"
    line: _Line = _LocalLine() if local else _RemoteLine(url or settings.public_base_url)
    inputs = [item.strip() for item in press.split(",") if item.strip()]
    click.echo(f"{from_} calls {to}{' (in-process)' if local else ''}")
    sid = line.dial(from_, to)
    printer = _Printer()

    def listening_or_over(state: dict[str, Any]) -> bool:
        return bool(state["listening"]) or state["status"] in ENDED

    for item in inputs:
        state = line.wait(sid, listening_or_over, wait_seconds)
        printer.show(state)
        if state["status"] in ENDED:
            click.echo(f"  (the call ended before {item!r} could be entered)")
            break
        if not state["listening"]:
            click.echo(f"  (nothing listened for {item!r} within {wait_seconds:g} s)")
            break
        if item.lower().startswith("say:"):
            line.act(sid, "speak", text=item[4:])
        else:
            line.act(sid, "press", digits=item)
        state = line.wait(sid, lambda s: not s["listening"] or s["status"] in ENDED, 5)
    state = line.wait(sid, lambda s: s["status"] in ENDED or bool(s["listening"]) or bool(s["queue"]), wait_seconds)
    printer.show(state)
    if state["status"] not in ENDED:
        where = f"waiting in queue {state['queue']} (position {state['position']})" if state["queue"] else \
            "listening for input" if state["listening"] else "in the call"
        click.echo(f"outcome: still {where}; hanging up")
        line.act(sid, "hangup")
        state = line.wait(sid, lambda s: s["status"] in ENDED, 10)
        printer.show(state)
        return
    said = [entry["text"] for entry in state["lines"] if entry["kind"] == "say"]
    click.echo(f"outcome: the line ended the call ({state['status']}, {state['duration']} s)"
               + (f"; last words: {said[-1]}" if said else ""))


commands = [demo, call]

__all__ = ["call", "commands", "demo", "demo_config"]
