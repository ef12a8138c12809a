"""The built-in telephony simulator: Twilio's part played locally, so the whole product runs on a laptop.

- `engine.Simulator`: executes our TwiML, keeps queues, bridges legs, sends status callbacks, rings phones.
- `telephony.simulator.web`: mounts it at `/simulator` (a Twilio-compatible REST subset and the softphone).
- `make_provider(settings)`: the worker's provider in simulator mode, which is the real Twilio adapter pointed at
  `<PUBLIC_BASE_URL>/simulator`; so "simulator" is only configuration, and what works here works on Twilio.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from telephony.simulator.engine import Simulator, SimulatorError, SimulatorThread, new_account

ACCOUNT_FILE = "simulator-account.json"
REST_PREFIX = "/simulator"


def simulator_account(settings: Any) -> tuple[str, str]:
    """The simulated Twilio account (AccountSid, auth token): a pair generated once per instance and kept in
    `instance/simulator-account.json`, so the web process and the worker (separate processes) agree on it.

    Never TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN: the simulator must not sign anything with a real token.
    """
    folder = Path(settings.instance_path)
    path = folder / ACCOUNT_FILE
    stored: dict[str, str] = {}
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except ValueError:
            stored = {}
    if not stored.get("account_sid") or not stored.get("auth_token"):
        new_sid, new_token = new_account()
        stored = {"account_sid": new_sid, "auth_token": new_token}
        folder.mkdir(parents=True, exist_ok=True)
        # Written whole then renamed: a web process and a worker starting together never read half a file.
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(stored))
        temporary.chmod(0o600)
        if not path.exists():
            temporary.replace(path)
            return simulator_account(settings)
        temporary.unlink()
        return simulator_account(settings)
    return stored["account_sid"], stored["auth_token"]


def rest_base_url(settings: Any) -> str:
    """Where the simulator's REST API lives: what TWILIO_API_BASE_URL means in simulator mode."""
    return settings.public_base_url.rstrip("/") + REST_PREFIX


def make_provider(settings: Any, **kwargs: Any) -> Any:
    """The worker's provider in simulator mode: the real Twilio adapter, talking to the simulator's REST API."""
    from telephony.twilio import TwilioProvider

    sid, token = simulator_account(settings)
    provider = TwilioProvider(sid, token, base_url=rest_base_url(settings), **kwargs)
    provider.name = "simulator"
    return provider


__all__ = ["Simulator", "SimulatorError", "SimulatorThread", "make_provider", "rest_base_url", "simulator_account"]
