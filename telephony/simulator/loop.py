"""The clock loop: resumes each call leg's script when its wait is over or the event it waits for arrives.

Nothing sleeps: `run_due()` runs whatever is due at `clock.now()`, tests move a `FrozenClock` with `advance()` and
`run_until()`, and `SimulatorThread` drives the loop in real time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from callbacks.clock import FrozenClock
from telephony.simulator.calls import Call, CallerHungUp, Dequeued, Event
from telephony.simulator.switchboard import Switchboard

log = logging.getLogger(__name__)


class ClockLoop:
    """Drives every leg's script: due waits and delivered events, in simulated or real time."""

    def __init__(self, board: Switchboard):
        self.board = board

    def run_due(self, max_steps: int = 10_000) -> int:
        """Resume every call whose wait is over or whose awaited event arrived; returns how many steps ran."""
        steps = 0
        with self.board.lock:
            while steps < max_steps:
                progressed = False
                now = self.board.clock.now()
                for call in list(self.board.calls.values()):
                    if call.gen is None:
                        call.inbox.clear()
                        continue
                    event = self._take_event(call)
                    if event is not None:
                        self._deliver(call, event)
                    elif call.wait is not None and call.wait.until is not None and call.wait.until <= now:
                        self._resume(call, None)
                    else:
                        continue
                    progressed = True
                    steps += 1
                if not progressed:
                    break
        return steps

    def next_wake(self) -> datetime | None:
        """The earliest moment a call's script waits for (None: every call waits for an event, or none runs)."""
        with self.board.lock:
            times = [c.wait.until for c in self.board.calls.values()
                     if c.gen is not None and c.wait is not None and c.wait.until is not None]
            return min(times) if times else None

    def advance(self, seconds: float) -> None:
        """Move a FrozenClock forward by `seconds`, waking calls at each moment they wait for (tests, `--local`)."""
        clock = self._frozen_clock()
        target = clock.now() + timedelta(seconds=seconds)
        self.run_due()
        while True:
            wake = self.next_wake()
            if wake is None or wake > target:
                break
            if wake > clock.now():
                clock.set(wake)
            if not self.run_due():
                break
        clock.set(max(target, clock.now()))
        self.run_due()

    def run_until(self, predicate: Callable[[], bool], seconds: float = 600, step: float | None = None) -> bool:
        """Advance a FrozenClock (event by event, or by `step`) until `predicate()` holds or `seconds` have passed."""
        clock = self._frozen_clock()
        deadline = clock.now() + timedelta(seconds=seconds)
        self.run_due()
        while not predicate():
            now = clock.now()
            if now >= deadline:
                return False
            wake = self.next_wake()
            target = min(deadline, wake if wake is not None and step is None else now + timedelta(seconds=step or 1))
            clock.set(max(target, now + timedelta(milliseconds=1)))
            self.run_due()
        return True

    def _frozen_clock(self) -> FrozenClock:
        clock = self.board.clock
        if not isinstance(clock, FrozenClock):
            raise TypeError(f"advance() and run_until() move a FrozenClock; this simulator runs on {clock!r}")
        return clock

    def _take_event(self, call: Call) -> Event | None:
        """The first event this call can take now; key presses nobody listens for are dropped, as on Twilio."""
        accepts = call.wait.accepts if call.wait is not None else frozenset()
        for event in list(call.inbox):
            if event.kind == "hangup" or (event.kind == "dequeued" and call.queue is not None) \
                    or event.kind in accepts:
                call.inbox.remove(event)
                return event
            if event.kind == "input":
                call.inbox.remove(event)
                self.board.line(call, "ignored", f"{event.digits or event.speech} (nothing was listening)")
        return None

    def _deliver(self, call: Call, event: Event) -> None:
        if event.kind == "hangup":
            self._resume(call, None, CallerHungUp())
        elif event.kind == "dequeued":
            self._resume(call, None, Dequeued(event.sid, event.url, event.method))
        else:
            self._resume(call, event)

    def _resume(self, call: Call, value: Event | None, error: BaseException | None = None) -> None:
        gen = call.gen
        if gen is None:
            return
        try:
            call.wait = gen.throw(error) if error is not None else gen.send(value)
        except StopIteration:
            call.gen, call.wait = None, None
            self.board.end(call, "completed" if call.answered_at else "canceled")
        except CallerHungUp:
            call.gen, call.wait = None, None
            self.board.end(call, "completed" if call.answered_at else "canceled")
        except Exception as exc:  # a bug in the engine must end one call, not the simulator
            log.exception("simulator: call %s failed", call.sid)
            call.errors.append(f"simulator error: {exc!r}")
            call.gen, call.wait = None, None
            self.board.end(call, "failed" if call.answered_at is None else "completed")


class Runnable(Protocol):
    """What the real-time thread drives: an event that wakes it early, and a step."""

    @property
    def wakeup(self) -> threading.Event: ...

    def run_due(self) -> int: ...


class SimulatorThread(threading.Thread):
    """Runs the engine in real time: resumes due calls every `interval` seconds, or at once when woken."""

    def __init__(self, simulator: Runnable, interval: float = 0.1):
        super().__init__(name="telephony-simulator", daemon=True)
        self.simulator = simulator
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.simulator.wakeup.wait(self.interval)
            self.simulator.wakeup.clear()
            try:
                self.simulator.run_due()
            except Exception:  # keep the phones ringing whatever one call did
                log.exception("simulator step failed")

    def stop(self) -> None:
        self.stopping.set()
        self.simulator.wakeup.set()


__all__ = ["ClockLoop", "SimulatorThread"]
