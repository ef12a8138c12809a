"""Real processes for the production tests: `ivr serve` (gunicorn) and `ivr worker`, started as an operator would,
with the environment an operator's env file gives them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from twilio.request_validator import RequestValidator

from tests.conftest import ROOT

IVR = [sys.executable, "-c", "from cli.entry import main; main()"]
PUBLIC = "https://support.example.com"
TOKEN = "gunicorn-test-token"


def ivr_env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of an installation: its database, folders, Twilio token, JSON logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "PROMETHEUS_", "WEB_", "WORKER_"))}
    env.update({
        "DATABASE_URL": database_url, "INSTANCE_PATH": str(tmp_path / "instance"), "PUBLIC_BASE_URL": PUBLIC,
        "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "LOG_FORMAT": "json", "SECRET_KEY": "s" * 32,
        "WORKER_METRICS_PORT": "0",
    })
    env.update(extra)
    return env


def run_ivr(env: dict[str, str], *args: str, timeout: float = 60,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*IVR, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"ivr {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done


@dataclass
class Running:
    """A process started in the background, with every line it wrote so far."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def wait_for(self, pattern: str, seconds: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + seconds
        seen = 0
        while time.monotonic() < deadline:
            for line in self.lines[seen:]:
                found = re.search(pattern, line)
                if found:
                    return found
            seen = len(self.lines)
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r}:\n" + "\n".join(self.lines[-40:]))

    def records(self) -> list[dict[str, Any]]:
        """The JSON log lines (LOG_FORMAT=json) written so far."""
        return [json.loads(line) for line in list(self.lines) if line.startswith("{")]


@contextmanager
def background(argv: list[str], env: dict[str, str]) -> Iterator[Running]:
    process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    running = Running(process)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            running.lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()


@contextmanager
def gunicorn(env: dict[str, str], workers: int = 2) -> Iterator[tuple[Running, str]]:
    """`ivr serve` on a free port; yields the process and its base URL once it answers."""
    with background([*IVR, "serve", "--bind", "127.0.0.1:0", "--workers", str(workers)], env) as server:
        port = server.wait_for(r"Listening at: http://127\.0\.0\.1:(\d+)").group(1)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(base + "/healthz", timeout=10).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass  # listening before its workers have built the app
            assert time.monotonic() < deadline, "\n".join(server.lines[-40:])
            time.sleep(0.1)
        yield server, base


def signed_post(base: str, path: str, form: dict[str, str], token: str = TOKEN) -> requests.Response:
    """POST as Twilio does: signed for the public URL, sent to wherever the server listens."""
    signature = RequestValidator(token).compute_signature(PUBLIC + path, form)
    return requests.post(base + path, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)
