"""What people do on a simulated call: dial in, press keys, speak, answer, decline, hang up.

A browser softphone, `ivr call` and the tests act through these; each action is an event the clock loop delivers
to the call's script (never run inside the person's request).
"""

from __future__ import annotations

from telephony.simulator.calls import Event
from telephony.simulator.switchboard import Switchboard
from telephony.simulator.twiml import TwimlInterpreter


class People:
    """The people on the phones: callers ringing our numbers, agents and customers answering our calls."""

    def __init__(self, board: Switchboard, interpreter: TwimlInterpreter):
        self.board = board
        self.interpreter = interpreter

    def dial_in(self, from_: str, to: str) -> str:
        """A person calls one of our numbers (inbound, answered by our voice webhook). Returns the CallSid."""
        with self.board.lock:
            call = self.board.new_call(from_, to, "inbound", status="ringing")
            call.status_callback, call.status_events = self.board.status_url, frozenset({"completed"})
            self.board.line(call, "ring", f"calling {to}")
            self.board.start(call, self.interpreter.inbound_script(call))
        self.board.wakeup.set()
        return call.sid

    def press(self, sid: str, digits: str) -> None:
        """Keys pressed on the phone of the person on call `sid` (0-9, *, #)."""
        clean = "".join(ch for ch in digits if ch in "0123456789*#")
        if clean:
            self.board.post(sid, Event("input", digits=clean))

    def speak(self, sid: str, words: str) -> None:
        """What the person says (the speech recogniser's result, as Twilio's SpeechResult)."""
        words = " ".join(words.split())[:500]
        if words:
            self.board.post(sid, Event("input", speech=words))

    def answer(self, sid: str, *, machine: bool = False) -> None:
        """Pick up a ringing call (`machine=True`: a voicemail answers, for answering-machine detection)."""
        self.board.post(sid, Event("answer", machine=machine))

    def decline(self, sid: str) -> None:
        """Reject a ringing call (the caller gets `busy`)."""
        self.board.post(sid, Event("decline"))

    def hangup(self, sid: str) -> None:
        """The person on `sid` hangs up (a ringing call is declined)."""
        with self.board.lock:
            call = self.board.calls.get(sid)
            kind = "decline" if call is not None and call.status in ("queued", "ringing") and \
                call.direction != "inbound" else "hangup"
        self.board.post(sid, Event(kind))


__all__ = ["People"]
