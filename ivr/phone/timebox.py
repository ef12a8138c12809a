"""Database work inside a webhook gets a few seconds, not Twilio's fifteen.

The work runs on a small thread pool; when it does not finish in time (or the database errors) the caller
hears "one moment" instead of Twilio's "application error". A timed-out thread finishes on its own; its
result is dropped (every write here is idempotent or an append to the journey).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from callbacks.db import DatabaseUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_SECONDS = 2.0


class TooSlow(Exception):
    """The database did not answer in time (or answered with an error)."""


class Timebox:
    """Runs a function with a deadline on a bounded pool of threads."""

    def __init__(self, seconds: float = DEFAULT_SECONDS, workers: int = 16):
        self.seconds = seconds
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ivr-db")

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """fn(*args, **kwargs) within the deadline, or TooSlow."""
        future = self._pool.submit(fn, *args, **kwargs)
        try:
            return future.result(timeout=self.seconds)
        except FutureTimeout:
            log.warning("database work %s took longer than %.1fs", getattr(fn, "__name__", fn), self.seconds)
            raise TooSlow(f"no answer within {self.seconds}s") from None
        except (SQLAlchemyError, DatabaseUnavailable, OSError) as exc:
            log.warning("database work %s failed: %s", getattr(fn, "__name__", fn), exc)
            raise TooSlow(str(exc)) from exc

    def try_run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """Best effort (the journey): True when done, False when slow or failing; never raises TooSlow."""
        try:
            self.run(fn, *args, **kwargs)
        except TooSlow:
            return False
        return True

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
