"""The TwiML interpreter: runs the documents our app answers on a call leg, verb by verb, as Twilio would.

Say, Play, Pause, Gather, Redirect, Enqueue, Leave, Dial with Number and Queue, Hangup and Reject. Each leg's
script is a generator that yields `Wait`s (until a moment, or until an event such as a key press or an answer) and
is resumed by the clock loop (`telephony.simulator.loop`); it requests documents through the switchboard.
"""

from __future__ import annotations

import struct
from collections.abc import Generator, Mapping
from datetime import timedelta
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

Outcome = tuple[str, ...]  # ("goto", url, method, params) | ("end",) | ("hangup",) | ("leave",)


class TwimlInterpreter:
    """Runs one generator script per call leg: the TwiML our app answers, and ringing the phones it dials."""

    def __init__(self, board: Switchboard, say_chars_per_second: float = SAY_CHARS_PER_SECOND):
        self.board = board
        self.say_rate = say_chars_per_second
        self._audio_seconds: dict[str, float] = {}

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

    def _pause(self, seconds: float, accepts: frozenset[str] = frozenset(),
               ) -> Generator[Wait, Event | None, Event | None]:
        event = yield Wait(self.board.clock.now() + timedelta(seconds=max(0.0, seconds)), accepts)
        return event

    def inbound_script(self, call: Call) -> Generator[Wait, Event | None, None]:
        self.board.answer(call, None)
        yield from self._run_documents(call, self.board.voice_url, "POST")

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

    def outbound_script(self, call: Call) -> Generator[Wait, Event | None, None]:
        if (yield from self._ring(call)) is None:
            return
        if call.twiml:
            try:
                root = parse_twiml(call.twiml.encode())
            except ElementTree.ParseError:
                self.board.line(call, "error", "application error: the Twiml parameter is not XML")
                return
            call.documents.append(Document("(Twiml parameter)", "", {}, 200, call.twiml.encode()))
            outcome = yield from self._execute(call, root, self.board.base_url + "/")
            if outcome[0] == "goto":
                yield from self._run_documents(call, outcome[1], outcome[2], outcome[3])
            return
        assert call.url is not None
        yield from self._run_documents(call, call.url, call.method)

    def _run_documents(self, call: Call, url: str, method: str, extra: Mapping[str, str] | None = None,
                       ) -> Generator[Wait, Event | None, str]:
        """Fetch and execute documents (following Redirects and actions) until one ends or hangs up."""
        target: tuple[str, str, Mapping[str, str]] | None = (url, method, extra or {})
        while target is not None:
            root = self._fetch(call, *target)
            if root is None:
                yield from self._pause(1)
                return "error"
            outcome = yield from self._execute(call, root, target[0])
            if outcome[0] != "goto":
                return outcome[0]
            target = (outcome[1], outcome[2], outcome[3])  # type: ignore[assignment]
        return "end"

    def _execute(self, call: Call, root: ElementTree.Element, doc_url: str, *, waiting: str | None = None,
                 ) -> Generator[Wait, Event | None, Outcome]:
        """Run the verbs of one document; `waiting` is the queue name when this is an Enqueue's waitUrl."""
        index = len(call.documents) - 1
        for verb in root:
            call.executed.append(Executed(index, verb.tag, dict(verb.attrib), (verb.text or "").strip()))
            tag = verb.tag
            if tag in ("Say", "Play", "Pause"):
                yield from self._media(call, verb, doc_url, frozenset())
            elif tag == "Gather":
                outcome = yield from self._gather(call, verb, doc_url, index)
                if outcome is not None:
                    return outcome
            elif tag == "Redirect":
                return ("goto", _resolve(doc_url, (verb.text or "").strip()), _method(verb), {})
            elif tag == "Hangup":
                return ("hangup",)
            elif tag == "Reject":
                self.board.line(call, "info", "the call was rejected")
                return ("hangup",)
            elif tag == "Leave":
                if waiting is not None:
                    return ("leave",)
            elif tag == "Enqueue" and waiting is None:
                outcome = yield from self._enqueue(call, verb, doc_url)
                if outcome is not None:
                    return outcome
            elif tag == "Dial" and waiting is None:
                outcome = yield from self._dial(call, verb, doc_url)
                if outcome is not None:
                    return outcome
            else:
                call.errors.append(f"verb {tag} not supported here")
                self.board.line(call, "info", f"(the simulator skipped <{tag}>)")
        return ("end",)

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
                ) -> Generator[Wait, Event | None, Outcome | None]:
        modes = set((verb.get("input") or "dtmf").split())
        timeout = _int(verb.get("timeout"), GATHER_TIMEOUT)
        num_digits = _int(verb.get("numDigits"), 0) or None
        finish = verb.get("finishOnKey", "#")
        action = _resolve(doc_url, verb.get("action") or doc_url)
        call.listening = {"input": sorted(modes), "numDigits": num_digits, "finishOnKey": finish,
                          "language": verb.get("language"), "hints": verb.get("hints")}
        self.board.line(call, "listen", " and ".join("keys" if m == "dtmf" else m for m in sorted(modes)))
        listen = frozenset({"input"})
        event: Event | None = None
        for child in verb:
            call.executed.append(Executed(index, child.tag, dict(child.attrib), (child.text or "").strip()))
            if child.tag in ("Say", "Play", "Pause"):
                event = yield from self._media(call, child, doc_url, listen)
                if event is not None:
                    break  # barge-in: a key (or words) interrupts the prompt
        digits, speech, finished_on = "", None, ""
        while True:
            if event is None:
                event = yield Wait(self.board.clock.now() + timedelta(seconds=timeout), listen)
                if event is None:
                    break
            if event.speech is not None:
                if "speech" in modes:
                    self.board.line(call, "said", event.speech)
                    speech = event.speech
                    break
                self.board.line(call, "ignored", f"{event.speech} (only keys are listened for)")
            elif "dtmf" in modes:
                self.board.line(call, "pressed", event.digits)
                done = False
                for key in event.digits:
                    if finish and key == finish:
                        finished_on, done = key, True
                        break
                    digits += key
                    if num_digits and len(digits) >= num_digits:
                        done = True
                        break
                if done:
                    break
            else:
                self.board.line(call, "ignored", f"{event.digits} (only speech is listened for)")
            event = None
        call.listening = None
        params: dict[str, str] = {}
        if speech is not None:
            params = {"SpeechResult": speech, "Confidence": "0.9"}
        elif digits:
            params = {"Digits": digits}
            if finished_on:
                params["FinishedOnKey"] = finished_on
        if params or verb.get("actionOnEmptyResult") == "true":
            return ("goto", action, _method(verb), params)
        return None  # nothing heard: Twilio goes on with the next verb

    def _enqueue(self, call: Call, verb: ElementTree.Element, doc_url: str,
                 ) -> Generator[Wait, Event | None, Outcome | None]:
        name = (verb.text or "").strip() or "default"
        action = _resolve(doc_url, verb.get("action")) if verb.get("action") else None
        wait_url = _resolve(doc_url, verb.get("waitUrl")) if verb.get("waitUrl") else None
        wait_method = (verb.get("waitUrlMethod") or "POST").upper()
        self.board.queues.setdefault(name, []).append(call.sid)
        call.queue, call.enqueued_at = name, self.board.clock.now()
        self.board.line(call, "queue", f"waiting in queue {name}")
        result = "hangup"
        queue_params = self.board.queue_params(call, name)
        try:
            while True:
                if wait_url is None:
                    yield Wait(None)
                    continue
                started = self.board.clock.now()
                result = yield from self._wait_documents(call, name, wait_url, wait_method)
                if result in ("leave", "hangup", "error"):
                    if result == "error":
                        result = "system-error"
                    break
                spent = (self.board.clock.now() - started).total_seconds()
                if spent < MIN_WAIT_LOOP:
                    yield from self._pause(MIN_WAIT_LOOP - spent)
        except Dequeued as taken:
            queue_params = self.board.queue_params(call, name)
            self.board.leave_queue(call)
            call.listening = None
            if taken.url:
                # Twilio runs the <Queue url> document on the dequeued caller before connecting them.
                root = self._fetch(call, taken.url, taken.method, {**queue_params, "DequeingCallSid": taken.by})
                if root is not None:
                    yield from self._execute(call, root, taken.url)
            agent = self.board.calls.get(taken.by)
            if agent is not None and not agent.ended:
                self.board.bridge(call, agent)
                agent.inbox.append(Event("child_ready", sid=call.sid))
                try:
                    yield Wait(None, frozenset({"bridge_end"}))
                except CallerHungUp:
                    # Twilio still tells the Enqueue's action how the wait ended (its answer is not played).
                    self.board.unbridge(call)
                    if action:
                        self.board.send(_method(verb), action,
                                   {**self.board.params(call), **queue_params, "QueueResult": "bridged"})
                    raise
            result = "bridged"
        except CallerHungUp:
            queue_params = self.board.queue_params(call, name)
            self.board.leave_queue(call)
            if action:
                self.board.send(_method(verb), action,
                                {**self.board.params(call), **queue_params, "QueueResult": "hangup"})
            raise
        else:
            queue_params = self.board.queue_params(call, name)
        finally:
            self.board.leave_queue(call)
        self.board.line(call, "info", f"left queue {name} ({result})")
        if result == "hangup":
            return ("hangup",)
        if action:
            params = {"QueueResult": result, "QueueSid": queue_params["QueueSid"],
                      "QueueTime": queue_params["QueueTime"]}
            return ("goto", action, _method(verb), params)
        return None

    def _wait_documents(self, call: Call, name: str, url: str, method: str) -> Generator[Wait, Event | None, str]:
        """One round of the waitUrl: its document and whatever its Gathers and Redirects lead to."""
        target: tuple[str, str, Mapping[str, str]] | None = (url, method, {})
        while target is not None:
            params = {**self.board.queue_params(call, name), **target[2]}
            root = self._fetch(call, target[0], target[1], params)
            if root is None:
                return "error"
            outcome = yield from self._execute(call, root, target[0], waiting=name)
            if outcome[0] != "goto":
                return outcome[0]
            target = (outcome[1], outcome[2], outcome[3])  # type: ignore[assignment]
        return "end"

    def _dial(self, call: Call, verb: ElementTree.Element, doc_url: str,
              ) -> Generator[Wait, Event | None, Outcome | None]:
        action = _resolve(doc_url, verb.get("action")) if verb.get("action") else None
        timeout = _int(verb.get("timeout"), DIAL_TIMEOUT) or DIAL_TIMEOUT
        time_limit = min(_int(verb.get("timeLimit"), MAX_TIME_LIMIT) or MAX_TIME_LIMIT, MAX_TIME_LIMIT)
        caller_id = verb.get("callerId") or call.from_
        nouns = list(verb) or [_number_noun((verb.text or "").strip())]
        children: list[Call] = []
        status, bridged_with, bridged_seconds = "failed", None, 0
        try:
            queue_nouns = [n for n in nouns if n.tag == "Queue"]
            if queue_nouns:
                name = (queue_nouns[0].text or "").strip()
                self.board.line(call, "info", f"taking the next caller from queue {name}")
                members = self.board.queues.get(name, [])
                until = self.board.clock.now() + timedelta(seconds=timeout)
                while not members:
                    if self.board.clock.now() >= until:
                        break
                    yield from self._pause(1)
                    members = self.board.queues.get(name, [])
                if not members:
                    status = "no-answer"
                else:
                    member = self.board.calls[members.pop(0)]
                    # Out of the line at once; its script learns it was taken when it next runs (Dequeued).
                    url = _resolve(doc_url, queue_nouns[0].get("url")) if queue_nouns[0].get("url") else ""
                    member.inbox.append(Event("dequeued", sid=call.sid, url=url,
                                              method=(queue_nouns[0].get("method") or "POST").upper()))
                    event = yield Wait(self.board.clock.now() + timedelta(seconds=timeout), frozenset({"child_ready"}))
                    if event is None:  # the caller hung up before being connected
                        status = "no-answer"
                    else:
                        bridged_with = member
                        started = self.board.clock.now()
                        event = yield Wait(started + timedelta(seconds=time_limit), frozenset({"bridge_end"}))
                        bridged_seconds = int((self.board.clock.now() - started).total_seconds())
                        if event is None:
                            member.inbox.append(Event("hangup"))
                        status = "completed"
            else:
                for noun in nouns:
                    if noun.tag != "Number":
                        call.errors.append(f"<Dial><{noun.tag}> is not simulated")
                        self.board.line(call, "info", f"(the simulator cannot dial a {noun.tag})")
                        continue
                    children.append(self._dial_number(call, noun, caller_id, doc_url))
                if children:
                    self.board.line(call, "info", "ringing " + ", ".join(c.to for c in children))
                    until = self.board.clock.now() + timedelta(seconds=timeout)
                    failed: dict[str, str] = {}
                    while True:
                        event = yield Wait(until, frozenset({"child_ready", "child_failed"}))
                        if event is None:
                            status = "no-answer"
                            break
                        if event.sid not in {c.sid for c in children}:
                            continue  # news of a leg from an earlier Dial
                        if event.kind == "child_failed":
                            failed[event.sid] = event.status
                            if len(failed) == len(children):
                                status = event.status
                                break
                            continue
                        bridged_with = self.board.calls[event.sid]
                        break
                    for child in children:
                        if child is not bridged_with and not child.ended:
                            child.inbox.append(Event("cancel", status="no-answer" if event is None else "canceled"))
                    if bridged_with is not None:
                        self.board.bridge(call, bridged_with)
                        started = self.board.clock.now()
                        event = yield Wait(started + timedelta(seconds=time_limit), frozenset({"bridge_end"}))
                        bridged_seconds = int((self.board.clock.now() - started).total_seconds())
                        if event is None:
                            bridged_with.inbox.append(Event("hangup"))
                        status = "completed"
        except CallerHungUp:
            for child in children:
                if not child.ended:
                    child.inbox.append(Event("hangup" if child.answered_at else "cancel", status="canceled"))
            if bridged_with is not None and not bridged_with.ended:
                bridged_with.inbox.append(Event("hangup"))
            if action:
                params = {**self.board.params(call), "DialCallStatus": "completed" if bridged_with else "canceled",
                          "DialCallSid": bridged_with.sid if bridged_with else "", "DialCallDuration": "0"}
                self.board.send(_method(verb), action, params)
            raise
        finally:
            self.board.unbridge(call)
        self.board.line(call, "info", f"dial ended: {status}")
        if action:
            params = {"DialCallStatus": status, "DialBridged": "true" if bridged_with else "false"}
            if bridged_with is not None:
                params.update(DialCallSid=bridged_with.sid, DialCallDuration=str(bridged_seconds))
            elif children:
                params["DialCallSid"] = children[0].sid
            return ("goto", action, _method(verb), params)
        return None

    def _dial_number(self, parent: Call, noun: ElementTree.Element, caller_id: str, doc_url: str) -> Call:
        child = self.board.new_call(caller_id, (noun.text or "").strip(), "outbound-dial", parent=parent)
        child.status_callback = _resolve(doc_url, noun.get("statusCallback")) if noun.get("statusCallback") else None
        child.status_callback_method = (noun.get("statusCallbackMethod") or "POST").upper()
        child.status_events = frozenset((noun.get("statusCallbackEvent") or "completed").replace(",", " ").split())
        child.url = _resolve(doc_url, noun.get("url")) if noun.get("url") else None
        child.method = (noun.get("method") or "POST").upper()
        child.machine_detection = noun.get("machineDetection")
        self.board.start(child, self._child_script(child, parent.sid))
        return child

    def _child_script(self, child: Call, parent_sid: str) -> Generator[Wait, Event | None, None]:
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
                outcome = yield from self._run_documents(child, child.url, child.method)
                if outcome != "end":
                    self.board.end(child, "completed")
                    self.board.tell(parent_sid, Event("child_failed", status="completed", sid=child.sid))
                    return
            self.board.tell(parent_sid, Event("child_ready", sid=child.sid))
            yield Wait(None, frozenset({"bridge_end"}))
        except CallerHungUp:
            if child.bridged_to is None:
                self.board.tell(parent_sid, Event("child_failed", status="completed", sid=child.sid))
            raise


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


__all__ = ["Outcome", "TwimlInterpreter", "parse_twiml"]
