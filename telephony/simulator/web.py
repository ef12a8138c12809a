"""`/simulator`: the built-in telephony simulator inside the web process (mounted only in simulator mode).

- `/simulator/2010-04-01/Accounts/<sid>/Calls.json` ...: the subset of Twilio's REST API the worker uses, so the
  worker reaches the simulator through the real Twilio adapter (TWILIO_API_BASE_URL = PUBLIC_BASE_URL/simulator).
- `/simulator`: the softphone page; `/simulator/api/...`: its JSON (call the line, press keys, speak, answer).

The engine reaches our webhooks over HTTP at PUBLIC_BASE_URL with signed requests, exactly as Twilio would; it
never calls into the phone tree's Python code.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, render_template, request

from callbacks.clock import Clock
from telephony.simulator import rest_base_url, simulator_account
from telephony.simulator.engine import Simulator, SimulatorError, SimulatorThread

log = logging.getLogger(__name__)
bp = Blueprint("simulator", __name__, url_prefix="/simulator", template_folder="templates", static_folder="static",
               static_url_path="/static")
REST = "/2010-04-01/Accounts/<account_sid>"
MAX_LINE_NUMBERS = 6


@dataclass
class SimulatorRuntime:
    """The web process's simulator: the engine and (once something uses it) its real-time thread."""

    engine: Simulator
    settings: Any
    centre: Any
    db: Any
    autostart: bool = True
    thread: SimulatorThread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ensure_running(self) -> None:
        if not self.autostart or (self.thread is not None and self.thread.is_alive()):
            return
        with self._lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = SimulatorThread(self.engine)
                self.thread.start()
                log.info("telephony simulator running; softphone at %s/simulator", self.engine.base_url)

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.stop()
            self.thread.join(timeout=5)


def simulator(app: Flask | None = None) -> SimulatorRuntime:
    return (app or current_app).extensions["simulator"]


def _engine() -> Simulator:
    sim = simulator()
    sim.ensure_running()
    return sim.engine


# -- Twilio's REST API (the subset our worker uses) -----------------------------------------------------------------
def _authorised(account_sid: str) -> Simulator:
    engine = _engine()
    auth = request.authorization
    try:
        engine.check_account(account_sid, (auth.username or "") if auth else "", (auth.password or "") if auth else "")
    except SimulatorError as exc:
        abort(_error(exc))
    return engine


def _error(exc: SimulatorError) -> Response:
    response = jsonify(exc.body())
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return response


def _form() -> dict[str, Any]:
    form: dict[str, Any] = {}
    for key in request.form:
        values = request.form.getlist(key)
        form[key] = values if len(values) > 1 or key == "StatusCallbackEvent" else values[0]
    return form


@bp.post(f"{REST}/Calls.json")
def rest_create_call(account_sid: str) -> Any:
    engine = _authorised(account_sid)
    try:
        return jsonify(engine.create_call(_form())), 201
    except SimulatorError as exc:
        return _error(exc)


@bp.get(f"{REST}/Calls.json")
def rest_list_calls(account_sid: str) -> Any:
    engine = _authorised(account_sid)
    size = min(max(request.args.get("PageSize", 50, type=int), 1), 1000)
    calls = engine.list_calls(request.args.to_dict(), limit=size)
    uri = f"/2010-04-01/Accounts/{account_sid}/Calls.json"
    return jsonify({"calls": calls, "page": 0, "page_size": size, "start": 0, "end": max(len(calls) - 1, 0),
                    "first_page_uri": f"{uri}?PageSize={size}&Page=0", "next_page_uri": None,
                    "previous_page_uri": None, "uri": f"{uri}?PageSize={size}&Page=0"})


@bp.get(f"{REST}/Calls/<call_sid>.json")
def rest_fetch_call(account_sid: str, call_sid: str) -> Any:
    engine = _authorised(account_sid)
    try:
        return jsonify(engine.fetch_call(call_sid))
    except SimulatorError as exc:
        return _error(exc)


@bp.post(f"{REST}/Calls/<call_sid>.json")
def rest_update_call(account_sid: str, call_sid: str) -> Any:
    engine = _authorised(account_sid)
    try:
        return jsonify(engine.update_call(call_sid, request.form.to_dict()))
    except SimulatorError as exc:
        return _error(exc)


@bp.post(f"{REST}/Messages.json")
def rest_send_message(account_sid: str) -> Any:
    engine = _authorised(account_sid)
    try:
        return jsonify(engine.send_message(request.form.to_dict())), 201
    except SimulatorError as exc:
        return _error(exc)


# -- the softphone ---------------------------------------------------------------------------------------------------
def _lines(rt: SimulatorRuntime) -> list[dict[str, str]]:
    """Numbers a softphone user can call: our configured numbers (each may fix the language), then a generic one."""
    from config.menus import menu_of

    found: list[dict[str, str]] = []
    by_number = menu_of(rt.centre).language.by_called_number
    for number, language in list(by_number.items())[:MAX_LINE_NUMBERS]:
        found.append({"number": number, "language": language})
    if rt.settings.twilio_phone_number and rt.settings.twilio_phone_number not in by_number:
        found.append({"number": rt.settings.twilio_phone_number, "language": ""})
    # A number that fixes no language: the caller hears the language menu first.
    found.append({"number": "+10000000001", "language": ""})
    return found


def _agents() -> list[dict[str, Any]]:
    """Agents' phones to show on the page (labels only: calls reach them through the simulator like anyone)."""
    from callbacks.agents import list_agents

    try:
        return [{"name": a.name, "phone": a.phone, "on_shift": a.on_shift} for a in list_agents(
            simulator().db)]
    except Exception:  # the page must open even when the database is down
        log.warning("simulator page: could not list agents", exc_info=True)
        return []


def _json_body() -> dict[str, Any]:
    # Only JSON: a cross-site form cannot send it without a CORS preflight, which we never answer.
    if not request.is_json:
        abort(415)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400)
    return body


@bp.get("")
@bp.get("/")
def softphone() -> str:
    rt = simulator()
    return render_template("simulator/softphone.html", lines=_lines(rt), agents=_agents(),
                           default_language=rt.centre.default_language)


@bp.get("/api/state")
def state() -> Any:
    data = _engine().snapshot()
    data["agents"] = _agents()
    return jsonify(data)


@bp.post("/api/calls")
def place_call() -> Any:
    body = _json_body()
    from_, to = str(body.get("from", "")).strip(), str(body.get("to", "")).strip()
    if not from_ or not to or len(from_) > 20 or len(to) > 20:
        return jsonify({"error": {"code": "bad_number", "message": "from and to are required"}}), 422
    return jsonify({"sid": _engine().dial_in(from_, to)}), 201


@bp.post("/api/calls/<sid>/<action>")
def act(sid: str, action: str) -> Any:
    engine = _engine()
    body = _json_body()
    if sid not in engine.calls:
        abort(404)
    if action == "press":
        engine.press(sid, str(body.get("digits", ""))[:40])
    elif action == "speak":
        engine.speak(sid, str(body.get("text", ""))[:500])
    elif action == "answer":
        engine.answer(sid, machine=bool(body.get("machine")))
    elif action == "decline":
        engine.decline(sid)
    elif action == "hangup":
        engine.hangup(sid)
    else:
        abort(404)
    return jsonify({"ok": True})


# -- wiring ----------------------------------------------------------------------------------------------------------
def build_engine(app: Flask, settings: Any, clock: Clock) -> Simulator:
    """The engine for this app: our public URL, the simulated account, the app's clock, HTTP by default."""
    from telephony.simulator.http import RequestsHttp

    account_sid, token = simulator_account(settings)
    return Simulator(
        base_url=settings.public_base_url,
        account_sid=account_sid,
        auth_token=token,
        http=app.config.get("SIMULATOR_HTTP") or RequestsHttp(),
        clock=app.config.get("SIMULATOR_CLOCK") or clock,
    )


def init_app(app: Flask, *, settings: Any, centre: Any, db: Any, clock: Clock) -> None:
    """Mount the simulator when it is the telephony in use: no Twilio credential at all, and PUBLIC_BASE_URL local
    (or SIMULATOR_PUBLIC_DEMO). Anyone who reaches it can place calls and see agents' numbers, and it signs our
    webhooks: so it is never mounted beside a real token, nor on a public address by accident."""
    if settings.telephony_provider != "simulator":
        return
    if not settings.simulator_allowed:
        log.warning("telephony simulator NOT mounted: PUBLIC_BASE_URL %s is not local; set TWILIO_ACCOUNT_SID and "
                    "TWILIO_AUTH_TOKEN for Twilio, or SIMULATOR_PUBLIC_DEMO=1 for a public demo",
                    settings.public_base_url)
        return
    if not settings.public_url_is_local:
        log.warning("SIMULATOR_PUBLIC_DEMO is set: the telephony simulator is PUBLIC at %s/simulator; anyone can "
                    "place calls through it and see agents' numbers. Never do this with real customers.",
                    settings.public_base_url)
    account_sid, token = simulator_account(settings)
    # Our webhooks check signatures with TWILIO_AUTH_TOKEN; in simulator mode the simulated account's token is
    # that token, as if pasted from Twilio's console (kept under the instance folder, shared with the worker).
    settings.twilio_auth_token = token
    engine = build_engine(app, settings, clock)
    sim = SimulatorRuntime(engine, settings, centre, db, autostart=app.config.get("SIMULATOR_THREAD", True))
    engine.line_numbers = [line["number"] for line in _lines(sim)]
    app.extensions["simulator"] = sim
    app.register_blueprint(bp)
    log.debug("simulator mounted at /simulator (REST base %s, account %s)", rest_base_url(settings), account_sid)


__all__ = ["SimulatorRuntime", "bp", "build_engine", "init_app", "simulator"]
