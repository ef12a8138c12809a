"""The TwiML interpreter: runs the documents our app answers on a call leg, verb by verb, as Twilio would.

Say, Play, Pause, Gather, Redirect, Enqueue, Leave, Dial with Number and Queue, Hangup and Reject. Each leg's
script is a generator that yields `Wait`s (until a moment, or until an event such as a key press or an answer) and
is resumed by the clock loop (`telephony.simulator.loop`); it requests documents through the switchboard.
"""

from __future__ import annotations

import struct
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal
from urllib.parse import urljoin
from xml.etree import ElementTree

from telephony.simulator.calls import E164, Call, CallerHungUp, Dequeued, Document, Event, Executed, Wait
from telephony.simulator.switchboard import Switchboard

# Speaking rate used to estimate how long a <Say> lasts (characters per second, about 150 words a minute).
SAY_CHARS_PER_SECOND = 15.0
# Twilio's defaults.
GATHER_TIMEOUT = 5
DIAL_TIMEOUT = 30
MAX_TIME_LIMIT = 4 * 3600
# A waitUrl document that takes no time must not make us hammer the app (Twilio loops it, with audio).
MIN_WAIT_LOOP = 1.0
MEDIA = ("Say", "Play", "Pause")

Script = Generator[Wait, Event | None, None]


@dataclass(frozen=True)
class Goto:
    """The next document to fetch: a Redirect's URL, or a verb's action with what it reports."""

    url: str
    method: str
    params: Mapping[str, str] = field(default_factory=dict)


# How a run of documents stopped by itself: out of verbs, a Hangup or Reject, a Leave (in a queue's waitUrl), or
# no usable document ("error").
Ending = Literal["end", "hangup", "leave", "error"]
# How one document ended: another document to fetch, or a stop.
Outcome = Goto | Literal["end", "hangup", "leave"]


@dataclass
class DialProgress:
    """One <Dial> under way: its limits, the legs it rang, and who is bridged (read when the caller hangs up)."""

    timeout: int
    time_limit: int
    status: str = "failed"
    children: list[Call] = field(default_factory=list)
    bridged_with: Call | None = None
    bridged_seconds: int = 0


class TwimlInterpreter:
    """Runs one generator script per call leg: the TwiML our app answers, and ringing the phones it dials."""

    def __init__(self, board: Switchboard, say_chars_per_second: float = SAY_CHARS_PER_SECOND):
        self.board = board
        self.say_rate = say_chars_per_second
        self._audio_seconds: dict[str, float] = {}

    # -- the scripts of whole legs ---------------------------------------------------------------------------------
    def inbound_script(self, call: Call) -> Script:
        """A person called one of our numbers: answered at once, then our voice webhook's documents."""
        self.board.answer(call, None)
        yield from self._run_documents(call, self.board.voice_url, "POST")

    def outbound_script(self, call: Call) -> Script:
        """A call made through the REST API: ring the phone, then run its `Twiml` or its `Url`'s documents."""
        if (yield from self._ring(call)) is None:
            return
        if not call.twiml:
            assert call.url is not None  # the REST resource refuses a call with neither
            yield from self._run_documents(call, call.url, call.method)
            return
        try:
            root = parse_twiml(call.twiml.encode())
        except ElementTree.ParseError:
            self.board.line(call, "error", "application error: the Twiml parameter is not XML")
            return
        call.documents.append(Document("(Twiml parameter)", "", {}, 200, call.twiml.encode()))
        outcome = yield from self._execute(call, root, self.board.base_url + "/")
        if isinstance(outcome, Goto):
            yield from self._run_documents(call, outcome.url, outcome.method, outcome.params)

    def _child_script(self, child: Call, parent_sid: str) -> Script:
        """A leg made by <Dial><Number>: ring, run the whisper `url` if any, then stay bridged until one side ends."""
        if not E164.match(child.to):
            self.board.end(child, "failed")
            self.board.tell(parent_sid, Event("child_failed", status="failed", sid=child.sid))
            return
        answer = yield from self._ring(child)
        if answer is None:
            self.board.tell(parent_sid, Event("child_failed", status=child.status, sid=child.sid))
            return
        try:
            if child.url:
                ending = yield from self._run_documents(child, child.url, child.method)
                if ending != "end":
                    self.board.end(child, "completed")
                    self.board.tell(parent_sid, Event("child_failed", status="completed", sid=child.sid))
                    return
            self.board.tell(parent_sid, Event("child_ready", sid=child.sid))
            yield Wait(None, frozenset({"bridge_end"}))
        except CallerHungUp:
            if child.bridged_to is None:
                self.board.tell(parent_sid, Event("child_failed", status="completed", sid=child.sid))
            raise

    def _ring(self, call: Call) -> Generator[Wait, Event | None, Event | None]:
        """Ring the called phone until it answers (returns the answer), declines, or times out (returns None)."""
        call.status = "initiated"
        self.board.status_callback(call, "initiated")
        call.status = "ringing"
        self.board.line(call, "ring", f"incoming call from {call.from_}")
        self.board.status_callback(call, "ringing")
        until = self.board.clock.now() + timedelta(seconds=call.timeout) if call.direction == "outbound-api" else None
        try:
            event = yield Wait(until, frozenset({"answer", "decline", "cancel"}))
        except CallerHungUp:
            self.board.end(call, "canceled")
            return None
        if event is None:
            self.board.end(call, "no-answer")
            return None
        if event.kind == "decline":
            self.board.end(call, "busy")
            return None
        if event.kind == "cancel":
            self.board.end(call, event.status or "canceled")
            return None
        self.board.answer(call, event)
        return event

    # -- documents -------------------------------------------------------------------------------------------------
    def _run_documents(self, call: Call, url: str, method: str, extra: Mapping[str, str] | None = None,
                       ) -> Generator[Wait, Event | None, Ending]:
        """Fetch and execute documents (following Redirects and actions) until one ends or hangs up."""
        target = Goto(url, method, extra or {})
        while True:
            root = self._fetch(call, target.url, target.method, target.params)
            if root is None:
                yield from self._pause(1)
                return "error"
            outcome = yield from self._execute(call, root, target.url)
            if not isinstance(outcome, Goto):
                return outcome
            target = outcome

    def _fetch(self, call: Call, url: str, method: str, extra: Mapping[str, str]) -> ElementTree.Element | None:
        """Request a TwiML document for `call`; None (and an "application error") when there is no usable one."""
        params = {**self.board.params(call), **extra}
        answer = self.board.send(method, url, params)
        status, body = answer if answer is not None else (0, b"")
        call.documents.append(Document(url, method, params, status, body))
        if status != 200:
            call.errors.append(f"{method} {url} answered {status or 'nothing'}")
            self.board.line(call, "error", f"application error: {url} answered HTTP {status or 'nothing'}")
            return None
        try:
            root = parse_twiml(body)
        except ElementTree.ParseError as exc:
            call.errors.append(f"{url}: not XML ({exc})")
            self.board.line(call, "error", f"application error: {url} did not answer TwiML")
            return None
        if root.tag != "Response":
            call.errors.append(f"{url}: root element is {root.tag}, not Response")
            self.board.line(call, "error", f"application error: {url} did not answer TwiML")
            return None
        return root

    def _execute(self, call: Call, root: ElementTree.Element, doc_url: str, *, waiting: str | None = None,
                 ) -> Generator[Wait, Event | None, Outcome]:
        """Run the verbs of one document; `waiting` is the queue name when this is an Enqueue's waitUrl."""
        index = len(call.documents) - 1
        for verb in root:
            call.executed.append(Executed(index, verb.tag, dict(verb.attrib), (verb.text or "").strip()))
            tag = verb.tag
            outcome: Outcome | None = None
            if tag in MEDIA:
                yield from self._media(call, verb, doc_url, frozenset())
            elif tag == "Gather":
                outcome = yield from self._gather(call, verb, doc_url, index)
            elif tag == "Redirect":
                outcome = Goto(_resolve(doc_url, (verb.text or "").strip()), _method(verb))
            elif tag == "Hangup":
                outcome = "hangup"
            elif tag == "Reject":
                self.board.line(call, "info", "the call was rejected")
                outcome = "hangup"
            elif tag == "Leave":
                outcome = "leave" if waiting is not None else None  # outside a queue's wait music it does nothing
            elif tag == "Enqueue" and waiting is None:
                outcome = yield from self._enqueue(call, verb, doc_url)
            elif tag == "Dial" and waiting is None:
                outcome = yield from self._dial(call, verb, doc_url)
            else:
                call.errors.append(f"verb {tag} not supported here")
                self.board.line(call, "info", f"(the simulator skipped <{tag}>)")
            if outcome is not None:
                return outcome
        return "end"

    # -- Say, Play, Pause, Gather ----------------------------------------------------------------------------------
    def _pause(self, seconds: float, accepts: frozenset[str] = frozenset(),
               ) -> Generator[Wait, Event | None, Event | None]:
        """Let `seconds` pass; returns the awaited event that cut it short, if any."""
        event = yield Wait(self.board.clock.now() + timedelta(seconds=max(0.0, seconds)), accepts)
        return event

    def _media(self, call: Call, verb: ElementTree.Element, doc_url: str, accepts: frozenset[str],
               ) -> Generator[Wait, Event | None, Event | None]:
        """Say, Play or Pause; returns the event that interrupted it (a key press inside a Gather), if any."""
        loops = _int(verb.get("loop"), 1)
        loops = 1 if loops <= 0 else min(loops, 5)
        if verb.tag == "Pause":
            return (yield from self._pause(_int(verb.get("length"), 1), accepts))
        if verb.tag == "Say":
            text = " ".join((verb.text or "").split())
            self.board.line(call, "say", text, verb.get("language") or "en-US")
            seconds = max(1.0, len(text) / self.say_rate) * loops
        else:
            url = _resolve(doc_url, (verb.text or "").strip())
            self.board.line(call, "play", url.rsplit("/", 1)[-1], url=url)
            seconds = self._audio_length(url) * loops
        return (yield from self._pause(seconds, accepts))

    def _audio_length(self, url: str) -> float:
        """Seconds of a WAV prompt (from its header), else a guess."""
        if url not in self._audio_seconds:
            seconds = 3.0
            answer = self.board.send("GET", url, {}) if url.startswith(self.board.base_url) else None
            if answer is not None and answer[0] == 200:
                seconds = _wav_seconds(answer[1]) or seconds
            self._audio_seconds[url] = seconds
        return self._audio_seconds[url]

    def _gather(self, call: Call, verb: ElementTree.Element, doc_url: str, index: int,
                ) -> Generator[Wait, Event | None, Goto | None]:
        """<Gather>: its prompts (a key or words cut them short), then listening; the action with what was heard."""
        modes = set((verb.get("input") or "dtmf").split())
        num_digits = _int(verb.get("numDigits"), 0) or None
        finish = verb.get("finishOnKey", "#")
        call.listening = {"input": sorted(modes), "numDigits": num_digits, "finishOnKey": finish,
                          "language": verb.get("language"), "hints": verb.get("hints")}
        self.board.line(call, "listen", " and ".join("keys" if m == "dtmf" else m for m in sorted(modes)))
        event: Event | None = None
        for child in verb:
            call.executed.append(Executed(index, child.tag, dict(child.attrib), (child.text or "").strip()))
            if child.tag in MEDIA:
                event = yield from self._media(call, child, doc_url, frozenset({"input"}))
                if event is not None:
                    break  # barge-in: a key (or words) interrupts the prompt
        heard = yield from self._listen(call, event, modes, _int(verb.get("timeout"), GATHER_TIMEOUT), num_digits,
                                        finish)
        call.listening = None
        if heard or verb.get("actionOnEmptyResult") == "true":
            return Goto(_resolve(doc_url, verb.get("action") or doc_url), _method(verb), heard)
        return None  # nothing heard: Twilio goes on with the next verb

    def _listen(self, call: Call, event: Event | None, modes: set[str], timeout: int, num_digits: int | None,
                finish: str) -> Generator[Wait, Event | None, dict[str, str]]:
        """Take input from `event` on until words, `numDigits` keys, `finishOnKey`, or `timeout` seconds of silence.

        Returns the parameters Twilio sends to the action: SpeechResult, or Digits (and FinishedOnKey); none if
        nothing was heard."""
        digits = ""
        while True:
            if event is None:
                event = yield Wait(self.board.clock.now() + timedelta(seconds=timeout), frozenset({"input"}))
                if event is None:
                    break
            if event.speech is not None:
                if "speech" in modes:
                    self.board.line(call, "said", event.speech)
                    return {"SpeechResult": event.speech, "Confidence": "0.9"}
                self.board.line(call, "ignored", f"{event.speech} (only keys are listened for)")
            elif "dtmf" in modes:
                self.board.line(call, "pressed", event.digits)
                for key in event.digits:
                    if finish and key == finish:
                        return {"Digits": digits, "FinishedOnKey": key} if digits else {}
                    digits += key
                    if num_digits and len(digits) >= num_digits:
                        return {"Digits": digits}
            else:
                self.board.line(call, "ignored", f"{event.digits} (only speech is listened for)")
            event = None
        return {"Digits": digits} if digits else {}

    # -- Enqueue ---------------------------------------------------------------------------------------------------
    def _enqueue(self, call: Call, verb: ElementTree.Element, doc_url: str,
                 ) -> Generator[Wait, Event | None, Outcome | None]:
        """<Enqueue>: wait in the queue (with its waitUrl) until a <Dial><Queue> takes the caller, or they leave."""
        name = (verb.text or "").strip() or "default"
        action = _resolve(doc_url, verb.get("action")) if verb.get("action") else None
        wait_url = _resolve(doc_url, verb.get("waitUrl")) if verb.get("waitUrl") else None
        self.board.queues.setdefault(name, []).append(call.sid)
        call.queue, call.enqueued_at = name, self.board.clock.now()
        self.board.line(call, "queue", f"waiting in queue {name}")
        try:
            result = yield from self._hold(call, name, wait_url, (verb.get("waitUrlMethod") or "POST").upper())
            queue_params = self.board.queue_params(call, name)
        except Dequeued as taken:
            queue_params = self.board.queue_params(call, name)
            self.board.leave_queue(call)
            call.listening = None
            yield from self._connect_dequeued(call, taken, queue_params,
                                              Goto(action, _method(verb)) if action else None)
            result = "bridged"
        except CallerHungUp:
            queue_params = self.board.queue_params(call, name)
            self.board.leave_queue(call)
            if action:
                self.board.send(_method(verb), action,
                                {**self.board.params(call), **queue_params, "QueueResult": "hangup"})
            raise
        finally:
            self.board.leave_queue(call)
        self.board.line(call, "info", f"left queue {name} ({result})")
        if result == "hangup":
            return "hangup"
        if action:
            params = {"QueueResult": result, "QueueSid": queue_params["QueueSid"],
                      "QueueTime": queue_params["QueueTime"]}
            return Goto(action, _method(verb), params)
        return None

    def _hold(self, call: Call, name: str, wait_url: str | None, wait_method: str,
              ) -> Generator[Wait, Event | None, str]:
        """Play the waitUrl round after round (silence without one); returns how the caller left by themselves."""
        while wait_url is None:
            yield Wait(None)  # only a hang-up or a <Dial><Queue> ends this wait
        while True:
            started = self.board.clock.now()
            ending = yield from self._wait_documents(call, name, wait_url, wait_method)
            if ending == "error":
                return "system-error"
            if ending in ("leave", "hangup"):
                return ending
            spent = (self.board.clock.now() - started).total_seconds()
            if spent < MIN_WAIT_LOOP:
                yield from self._pause(MIN_WAIT_LOOP - spent)

    def _wait_documents(self, call: Call, name: str, url: str, method: str) -> Generator[Wait, Event | None, Ending]:
        """One round of the waitUrl: its document and whatever its Gathers and Redirects lead to."""
        target = Goto(url, method)
        while True:
            params = {**self.board.queue_params(call, name), **target.params}
            root = self._fetch(call, target.url, target.method, params)
            if root is None:
                return "error"
            outcome = yield from self._execute(call, root, target.url, waiting=name)
            if not isinstance(outcome, Goto):
                return outcome
            target = outcome

    def _connect_dequeued(self, call: Call, taken: Dequeued, queue_params: Mapping[str, str],
                          action: Goto | None) -> Script:
        """Taken by an agent's <Dial><Queue>: its <Queue url> document, then talking until one side hangs up."""
        if taken.url:
            # Twilio runs the <Queue url> document on the dequeued caller before connecting them.
            root = self._fetch(call, taken.url, taken.method, {**queue_params, "DequeingCallSid": taken.by})
            if root is not None:
                yield from self._execute(call, root, taken.url)
        agent = self.board.calls.get(taken.by)
        if agent is None or agent.ended:
            return
        self.board.bridge(call, agent)
        agent.inbox.append(Event("child_ready", sid=call.sid))
        try:
            yield Wait(None, frozenset({"bridge_end"}))
        except CallerHungUp:
            # Twilio still tells the Enqueue's action how the wait ended (its answer is not played).
            self.board.unbridge(call)
            if action is not None:
                self.board.send(action.method, action.url,
                                {**self.board.params(call), **queue_params, "QueueResult": "bridged"})
            raise

    # -- Dial ------------------------------------------------------------------------------------------------------
    def _dial(self, call: Call, verb: ElementTree.Element, doc_url: str,
              ) -> Generator[Wait, Event | None, Outcome | None]:
        """<Dial>: take the next caller from a <Queue>, or ring the <Number>s and bridge the first to answer."""
        action = _resolve(doc_url, verb.get("action")) if verb.get("action") else None
        dial = DialProgress(
            timeout=_int(verb.get("timeout"), DIAL_TIMEOUT) or DIAL_TIMEOUT,
            time_limit=min(_int(verb.get("timeLimit"), MAX_TIME_LIMIT) or MAX_TIME_LIMIT, MAX_TIME_LIMIT),
        )
        nouns = list(verb) or [_number_noun((verb.text or "").strip())]
        queue = next((noun for noun in nouns if noun.tag == "Queue"), None)
        try:
            if queue is not None:
                yield from self._dial_queue(call, queue, doc_url, dial)
            else:
                yield from self._dial_numbers(call, nouns, verb.get("callerId") or call.from_, doc_url, dial)
        except CallerHungUp:
            self._abandon_dial(call, dial, Goto(action, _method(verb)) if action else None)
            raise
        finally:
            self.board.unbridge(call)
        self.board.line(call, "info", f"dial ended: {dial.status}")
        if not action:
            return None
        params = {"DialCallStatus": dial.status, "DialBridged": "true" if dial.bridged_with else "false"}
        if dial.bridged_with is not None:
            params.update(DialCallSid=dial.bridged_with.sid, DialCallDuration=str(dial.bridged_seconds))
        elif dial.children:
            params["DialCallSid"] = dial.children[0].sid
        return Goto(action, _method(verb), params)

    def _dial_queue(self, call: Call, noun: ElementTree.Element, doc_url: str, dial: DialProgress) -> Script:
        """<Dial><Queue>: wait up to the timeout for a caller in the queue, take the first, talk."""
        name = (noun.text or "").strip()
        self.board.line(call, "info", f"taking the next caller from queue {name}")
        members = self.board.queues.get(name, [])
        until = self.board.clock.now() + timedelta(seconds=dial.timeout)
        while not members:
            if self.board.clock.now() >= until:
                break
            yield from self._pause(1)
            members = self.board.queues.get(name, [])
        if not members:
            dial.status = "no-answer"
            return
        member = self.board.calls[members.pop(0)]
        # Out of the line at once; its script learns it was taken when it next runs (Dequeued).
        url = _resolve(doc_url, noun.get("url")) if noun.get("url") else ""
        member.inbox.append(Event("dequeued", sid=call.sid, url=url, method=(noun.get("method") or "POST").upper()))
        event = yield Wait(self.board.clock.now() + timedelta(seconds=dial.timeout), frozenset({"child_ready"}))
        if event is None:  # the caller hung up before being connected
            dial.status = "no-answer"
            return
        dial.bridged_with = member
        yield from self._talk(member, dial)

    def _dial_numbers(self, call: Call, nouns: list[ElementTree.Element], caller_id: str, doc_url: str,
                      dial: DialProgress) -> Script:
        """<Dial><Number>...: ring them all at once; the first to answer is bridged, the others are canceled."""
        for noun in nouns:
            if noun.tag != "Number":
                call.errors.append(f"<Dial><{noun.tag}> is not simulated")
                self.board.line(call, "info", f"(the simulator cannot dial a {noun.tag})")
                continue
            dial.children.append(self._dial_number(call, noun, caller_id, doc_url))
        if not dial.children:
            return
        self.board.line(call, "info", "ringing " + ", ".join(c.to for c in dial.children))
        until = self.board.clock.now() + timedelta(seconds=dial.timeout)
        rung = {c.sid for c in dial.children}
        failed: dict[str, str] = {}
        while True:
            event = yield Wait(until, frozenset({"child_ready", "child_failed"}))
            if event is None:
                dial.status = "no-answer"
                break
            if event.sid not in rung:
                continue  # news of a leg from an earlier Dial
            if event.kind == "child_failed":
                failed[event.sid] = event.status
                if len(failed) == len(dial.children):
                    dial.status = event.status
                    break
                continue
            dial.bridged_with = self.board.calls[event.sid]
            break
        for child in dial.children:
            if child is not dial.bridged_with and not child.ended:
                child.inbox.append(Event("cancel", status="no-answer" if event is None else "canceled"))
        if dial.bridged_with is not None:
            self.board.bridge(call, dial.bridged_with)
            yield from self._talk(dial.bridged_with, dial)

    def _talk(self, other: Call, dial: DialProgress) -> Script:
        """Stay bridged with `other` until one side hangs up, or the Dial's timeLimit ends the talk."""
        started = self.board.clock.now()
        event = yield Wait(started + timedelta(seconds=dial.time_limit), frozenset({"bridge_end"}))
        dial.bridged_seconds = int((self.board.clock.now() - started).total_seconds())
        if event is None:
            other.inbox.append(Event("hangup"))
        dial.status = "completed"

    def _abandon_dial(self, call: Call, dial: DialProgress, action: Goto | None) -> None:
        """The dialing caller hung up: end every leg the Dial made, and tell its action (its answer is not played)."""
        for child in dial.children:
            if not child.ended:
                child.inbox.append(Event("hangup" if child.answered_at else "cancel", status="canceled"))
        if dial.bridged_with is not None and not dial.bridged_with.ended:
            dial.bridged_with.inbox.append(Event("hangup"))
        if action is not None:
            params = {**self.board.params(call), "DialCallStatus": "completed" if dial.bridged_with else "canceled",
                      "DialCallSid": dial.bridged_with.sid if dial.bridged_with else "", "DialCallDuration": "0"}
            self.board.send(action.method, action.url, params)

    def _dial_number(self, parent: Call, noun: ElementTree.Element, caller_id: str, doc_url: str) -> Call:
        """A new leg for one <Number>, with its own status callback and whisper `url`, ringing from the next step."""
        child = self.board.new_call(caller_id, (noun.text or "").strip(), "outbound-dial", parent=parent)
        child.status_callback = _resolve(doc_url, noun.get("statusCallback")) if noun.get("statusCallback") else None
        child.status_callback_method = (noun.get("statusCallbackMethod") or "POST").upper()
        child.status_events = frozenset((noun.get("statusCallbackEvent") or "completed").replace(",", " ").split())
        child.url = _resolve(doc_url, noun.get("url")) if noun.get("url") else None
        child.method = (noun.get("method") or "POST").upper()
        child.machine_detection = noun.get("machineDetection")
        self.board.start(child, self._child_script(child, parent.sid))
        return child


def parse_twiml(body: bytes) -> ElementTree.Element:
    """Parse a TwiML document; a DOCTYPE (entity tricks) is refused, as TwiML never needs one."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise ElementTree.ParseError("DOCTYPE and ENTITY declarations are not accepted in TwiML")
    return ElementTree.fromstring(body)  # noqa: S314 - no DTD possible (checked above); expat fetches nothing


def _resolve(base: str, url: str | None) -> str:
    return urljoin(base, url or "")


def _method(verb: ElementTree.Element) -> str:
    return (verb.get("method") or "POST").upper()


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def _number_noun(number: str) -> ElementTree.Element:
    noun = ElementTree.Element("Number")
    noun.text = number
    return noun


def _wav_seconds(body: bytes) -> float | None:
    """Duration of a PCM WAV file from its header (espeak-ng's rendered prompts), None if not one."""
    if len(body) < 44 or body[:4] != b"RIFF" or body[8:12] != b"WAVE":
        return None
    offset, byte_rate = 12, 0
    while offset + 8 <= len(body):
        chunk, size = body[offset:offset + 4], struct.unpack("<I", body[offset + 4:offset + 8])[0]
        if chunk == b"fmt " and offset + 20 <= len(body):
            byte_rate = struct.unpack("<I", body[offset + 16:offset + 20])[0]
        if chunk == b"data" and byte_rate:
            return min(size, len(body) - offset - 8) / byte_rate
        offset += 8 + size + (size & 1)
    return None


__all__ = ["DialProgress", "Goto", "Outcome", "Script", "TwimlInterpreter", "parse_twiml"]
