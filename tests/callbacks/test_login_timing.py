"""The stand-in hash a log-in with an unknown e-mail is checked against: made on a process's first log-in, not at
import (argon2 takes 64 MiB and tens of milliseconds to make it, in every process that imports the accounts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from callbacks import accounts
from callbacks.accounts import add_supervisor, authenticate

ROOT = Path(__file__).resolve().parents[2]
PEAK = """
import json
import callbacks.accounts as accounts
def field(name):
    for line in open("/proc/self/status"):
        if line.startswith(name):
            return int(line.split()[1]) / 1024
print(json.dumps({"made": accounts._dummy_hash.cache_info().currsize, "rss": field("VmRSS:"),
                  "peak": field("VmHWM:")}))
"""


def test_importing_the_accounts_makes_no_hash() -> None:
    out = subprocess.run([sys.executable, "-c", PEAK], cwd=ROOT, capture_output=True, text=True, check=True)
    facts = json.loads(out.stdout.strip().splitlines()[-1])
    assert facts["made"] == 0
    assert facts["peak"] - facts["rss"] < 32, facts  # argon2's 64 MiB was never taken


def test_a_processs_first_log_in_makes_it_whatever_the_answer(db: Any, clock: Any) -> None:
    add_supervisor(db, "lead@example.com", "a long secret phrase", clock.now())
    accounts._dummy_hash.cache_clear()
    # The right password for a known account: no stand-in needed, made all the same (the first answer of each
    # kind then costs the same).
    assert authenticate(db, "lead@example.com", "a long secret phrase", clock.now()).supervisor is not None
    assert accounts._dummy_hash.cache_info().currsize == 1
    assert authenticate(db, "nobody@example.com", "a long secret phrase", clock.now()).supervisor is None
    assert accounts._dummy_hash.cache_info().misses == 1
