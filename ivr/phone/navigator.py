"""The phone tree's next step as a pure function of (menu, node, input, retries, language, situation).

No Flask, no database, no clock: the webhook views gather the facts (is the centre open, who is on shift,
the caller's number) and hand them in; the steps returned here are rendered to TwiML by `ivr.phone.twiml` alone.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from callbacks.digits import to_ascii
from config.menus import OPERATOR_KEY, OPERATOR_WORDS, REPEAT_KEY, Menu, Node, normalise_speech

# Anything longer is not a key press we asked for (Twilio's own limit is far below a 10,000-digit Digits).
MAX_DIGITS = 40
_OPERATOR = {normalise_speech(w) for w in OPERATOR_WORDS}
# Seconds a message waits for `0`/`*` before moving on; a callback number gets longer to type.
MESSAGE_LISTEN_SECONDS = 1
NUMBER_ENTRY_SECONDS = 10


# -- steps -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One of our webhook URLs, by name, with its query parameters (rendered by the view into a URL)."""

    name: str
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def to(cls, name: str, **params: str | int | None) -> Route:
        return cls(name, tuple((k, str(v)) for k, v in params.items() if v is not None and v != ""))

    def param(self, key: str) -> str | None:
        return dict(self.params).get(key)


@dataclass(frozen=True)
class Speech:
    """One thing the caller hears: `audio` (a file or URL) when given, else `text` in `language`."""

    language: str
    text: str | None = None
    audio: str | None = None


@dataclass(frozen=True)
class Listen:
    """A `<Gather>`: what the caller says or presses goes to `action`."""

    action: Route
    timeout: int
    num_digits: int | None = 1
    finish_on_key: str | None = None
    speech_language: str | None = None  # BCP-47 tag; None listens for keys only
    hints: tuple[str, ...] = ()
    # Post to `action` on silence too, so the navigator (not Twilio) decides what silence means.
    on_empty: bool = True


@dataclass(frozen=True)
class Redirect:
    route: Route


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Leave:
    """Leave a Twilio queue (the Enqueue's action decides what happens next)."""


@dataclass(frozen=True)
class Enqueue:
    queue: str
    wait: Route
    action: Route


@dataclass(frozen=True)
class DialAgents:
    numbers: tuple[str, ...]
    timeout: int
    action: Route


@dataclass(frozen=True)
class HoldMusic:
    """Music played while waiting, inside the listen (so `1` works during it)."""

    url: str | None
    pause_seconds: int


Then = Redirect | Hangup | Leave | Enqueue | DialAgents | None


@dataclass(frozen=True)
class Step:
    """What to do with the caller now. Speech inside `listen` when listening (so keys barge in)."""

    node: str
    speech: tuple[Speech, ...] = ()
    listen: Listen | None = None
    then: Then = None
    # For the call journey: "human", "callback_offer", "callback_requested", "goodbye", "closed" ...
    outcome: str | None = None
    hold: HoldMusic | None = None


# -- what the caller did -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CallerInput:
    """Digits and/or speech as Twilio posted them, cleaned. `kind`: silence, keys, speech or garbage."""

    kind: str
    keys: str = ""
    words: str = ""

    @classmethod
    def parse(cls, digits: str | None, speech: str | None) -> CallerInput:
        digits = to_ascii(digits or "").strip()
        if digits:
            if len(digits) > MAX_DIGITS or not re.fullmatch(r"[0-9#*]+", digits):
                return cls("garbage")
            keys = digits.rstrip("#") if digits != "#" else digits
            return cls("keys", keys=keys) if keys else cls("silence")
        words = normalise_speech((speech or "")[:500])
        if words:
            return cls("speech", words=words)
        return cls("silence")

    @property
    def wants_human(self) -> bool:
        if self.kind == "keys":
            return self.keys == OPERATOR_KEY
        if self.kind == "speech":
            return bool(_OPERATOR & ({self.words} | set(self.words.split())))
        return False

    @property
    def wants_repeat(self) -> bool:
        return self.kind == "keys" and self.keys == REPEAT_KEY

    def spoken_digits(self) -> str:
        """Digits said aloud ("one two three" is not supported; Twilio writes digits as digits)."""
        return re.sub(r"\s+", "", self.words) if self.kind == "speech" else ""


@dataclass(frozen=True)
class Situation:
    """Facts about now that the views look up: opening hours, agents, the caller's number."""

    is_open: bool = True
    next_opening: datetime | None = None
    zone: ZoneInfo | None = None
    agents_on_shift: int = 1
    free_agent_numbers: tuple[str, ...] = ()
    caller_known: bool = True


@dataclass(frozen=True)
class Decision:
    """Where input at a node leads (before presenting it)."""

    node: str
    retries: int = 0
    sorry: bool = False
    escaped: bool = False  # `0` or "operator"
    back: str | None = None  # for a message without `next`
    stage: str = ""  # "confirm": reading collected digits back
    collected: str | None = None  # digits to read back (never stored in plain text)
    recorded_input: str | None = None  # what the journey may keep of the input


# -- the menu nodes ----------------------------------------------------------------------------------


def _prompt(menu: Menu, node: Node, language: str) -> tuple[Speech, ...]:
    prompt = node.prompt.get(language)
    if prompt is None:
        return ()
    return (Speech(language, text=prompt.say, audio=prompt.play),)


def _say(language: str, text: str) -> Speech:
    return Speech(language, text=text)


def _node_route(name: str, node: str, language: str, retries: int = 0, **extra: str | int | None) -> Route:
    return Route.to(name, n=node, l=language, r=retries or None, **extra)


def decide(
    menu: Menu, node_id: str, heard: CallerInput, retries: int, *, back: str | None = None, stage: str = ""
) -> Decision:
    """Where the caller goes from `node_id` after `heard` (the confusion policy lives here)."""
    node = menu.nodes[node_id]
    escape = Decision(menu.zero_target(node_id), escaped=True, recorded_input="0")
    if heard.wants_human:
        return escape
    if heard.wants_repeat:
        return Decision(node_id, retries, back=back, recorded_input="*")

    def confused() -> Decision:
        if retries >= menu.max_retries:
            # Twice re-prompted already: a person (or the callback offer) now, never a hang-up or a loop.
            return Decision(menu.nearest_human(node_id), sorry=True, recorded_input=heard.kind)
        return Decision(node_id, retries + 1, sorry=True, back=back, stage=stage, recorded_input=heard.kind)

    if node.type == "menu":
        if heard.kind == "keys":
            for option in node.options:
                if option.key is not None and option.key == heard.keys:
                    return Decision(option.goto, back=node_id, recorded_input=heard.keys)
        elif heard.kind == "speech":
            for option in node.options:
                for words in option.words.values():
                    spoken = {normalise_speech(w) for w in words}
                    if heard.words in spoken or any(w in spoken for w in heard.words.split()):
                        return Decision(option.goto, back=node_id, recorded_input=f"said:{option.goto}")
        return confused()
    if node.type == "message":
        # Anything but 0 or * during a message just lets it finish.
        return Decision(node.next or back or menu.start, recorded_input=heard.kind)
    if node.type == "goodbye":
        return Decision(node_id, stage="end", recorded_input=heard.kind)
    if node.type == "collect":
        if stage == "confirm":
            if heard.kind == "keys" and heard.keys == "1":
                return Decision(node.next or menu.start, recorded_input="confirmed")
            if heard.kind == "keys" and heard.keys == "2":
                return Decision(node_id, recorded_input="re-enter")
            return confused()
        digits = heard.keys if heard.kind == "keys" else heard.spoken_digits()
        if digits.isdecimal() and node.min_length <= len(digits) <= node.max_length and _passes(node, digits):
            recorded = fingerprint(digits) if node.sensitive else digits
            if node.confirm:
                return Decision(node_id, stage="confirm", collected=digits, recorded_input=recorded)
            return Decision(node.next or menu.start, recorded_input=recorded)
        return confused()
    # transfer and callback nodes are presented directly; input there is handled by their own routes.
    return Decision(node_id, retries, recorded_input=heard.kind)


def _passes(node: Node, digits: str) -> bool:
    if node.check == "luhn":
        total = 0
        for i, ch in enumerate(reversed(digits)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        return total % 10 == 0
    return True


def fingerprint(digits: str) -> str:
    """What the journey keeps of sensitive digits: their length and a short one-way hash."""
    return f"len{len(digits)}:{hashlib.sha256(digits.encode()).hexdigest()[:12]}"


def present(menu: Menu, decision: Decision, language: str, situation: Situation) -> Step:
    """The step that plays node `decision.node` to the caller."""
    node_id = decision.node
    node = menu.nodes[node_id]
    phrases = menu.phrase(language)
    voice = menu.voice(language)
    sorry = (_say(language, phrases.sorry),) if decision.sorry else ()
    timeout = node.timeout or menu.gather_timeout

    if node.type == "menu":
        hints = tuple(w for o in node.options for w in o.words.get(language, ())) + tuple(
            w for w in OPERATOR_WORDS if _script_matches(w, language)
        )
        return Step(
            node_id,
            speech=sorry + _prompt(menu, node, language),
            listen=Listen(
                _node_route("input", node_id, language, decision.retries),
                timeout=timeout,
                num_digits=1,
                speech_language=voice.language,
                hints=hints,
            ),
            then=Redirect(_node_route("input", node_id, language, decision.retries)),
        )
    if node.type == "message":
        back = decision.back if not node.next else None
        return Step(
            node_id,
            speech=sorry + _prompt(menu, node, language),
            listen=Listen(
                _node_route("input", node_id, language, b=back),
                timeout=MESSAGE_LISTEN_SECONDS,
                on_empty=False,
            ),
            then=Redirect(_node_route("node", node.next or decision.back or menu.start, language)),
        )
    if node.type == "goodbye":
        if decision.stage == "end":
            return Step(node_id, then=Hangup(), outcome="goodbye")
        speech = _prompt(menu, node, language) or (_say(language, phrases.goodbye),)
        return Step(
            node_id,
            speech=sorry + speech,
            listen=Listen(_node_route("input", node_id, language), timeout=MESSAGE_LISTEN_SECONDS, on_empty=False),
            then=Hangup(),
            outcome="goodbye",
        )
    if node.type == "collect":
        if decision.stage == "confirm":
            digits = " ".join(decision.collected or "")
            return Step(
                node_id,
                speech=(*sorry, _say(language, phrases.collected_read_back.format(digits=digits))),
                listen=Listen(_node_route("input", node_id, language, decision.retries, s="confirm"), timeout=timeout),
                then=Redirect(_node_route("input", node_id, language, decision.retries, s="confirm")),
            )
        speech = sorry if not decision.sorry else (_say(language, phrases.invalid_entry),)
        return Step(
            node_id,
            speech=speech + _prompt(menu, node, language),
            listen=Listen(
                _node_route("input", node_id, language, decision.retries),
                timeout=max(timeout, NUMBER_ENTRY_SECONDS),
                num_digits=None,
                finish_on_key="#",
                speech_language=voice.language,
            ),
            then=Redirect(_node_route("input", node_id, language, decision.retries)),
        )
    if node.type == "transfer":
        return transfer(menu, node_id, language, situation, sorry=decision.sorry)
    return callback_offer(menu, node_id, language, situation, sorry=decision.sorry)


def _script_matches(word: str, language: str) -> bool:
    persian = bool(re.search(r"[\u0600-\u06ff]", word))
    return persian == (language in ("fa", "ar", "ur", "ps"))


def navigate(
    menu: Menu,
    node_id: str,
    heard: CallerInput,
    retries: int,
    language: str,
    situation: Situation,
    *,
    back: str | None = None,
    stage: str = "",
) -> Step:
    """The whole of one turn: decide where `heard` leads from `node_id`, then present that."""
    return present(menu, decide(menu, node_id, heard, retries, back=back, stage=stage), language, situation)


def start(menu: Menu, language: str, situation: Situation) -> Step:
    """The first node of the tree, in `language`."""
    return present(menu, Decision(menu.start), language, situation)


# -- language ----------------------------------------------------------------------------------------


def language_menu(menu: Menu, languages: list[str], retries: int = 0, sorry: bool = False) -> Step:
    """Ask for a language, each choice spoken in its own language; it listens for "operator" in any of them too
    (recognised in the first language, the centre's own, with every language's operator words as hints)."""
    speech: list[Speech] = []
    ordered = sorted(menu.language.keys.items())
    for _, lang in ordered:
        if sorry and lang in menu.phrases:
            speech.append(_say(lang, menu.phrase(lang).sorry))
    for _, lang in ordered:
        prompt = menu.language.prompt.get(lang)
        if prompt is not None:
            speech.append(Speech(lang, text=prompt.say, audio=prompt.play))
    if not ordered:
        return start(menu, languages[0], Situation())
    return Step(
        "language",
        speech=tuple(speech),
        listen=Listen(Route.to("language", r=retries or None), timeout=menu.gather_timeout, num_digits=1,
                      speech_language=menu.voice(languages[0]).language, hints=OPERATOR_WORDS),
        then=Redirect(Route.to("language", r=retries or None)),
    )


def choose_language(
    menu: Menu, languages: list[str], default: str, heard: CallerInput, retries: int, situation: Situation
) -> tuple[str | None, Step]:
    """The language chosen at the first menu (None while still asking) and the next step."""
    if heard.wants_human:
        return default, present(menu, Decision(menu.operator, escaped=True), default, situation)
    if heard.kind == "keys" and heard.keys in menu.language.keys:
        lang = menu.language.keys[heard.keys]
        return lang, start(menu, lang, situation)
    if retries >= menu.max_retries:
        return default, present(menu, Decision(menu.operator, sorry=True), default, situation)
    return None, language_menu(menu, languages, retries + 1, sorry=True)


def language_for_call(menu: Menu, languages: list[str], default: str, called: str | None) -> str | None:
    """The language fixed by the number called, the only language, or None when the caller must choose."""
    if called and called in menu.language.by_called_number:
        return menu.language.by_called_number[called]
    if len(languages) == 1 or not menu.language.keys:
        return default
    return None


# -- reaching a human --------------------------------------------------------------------------------


def _queue_of(menu: Menu, node_id: str, default_queue: str) -> str:
    return menu.nodes[node_id].queue or default_queue if node_id in menu.nodes else default_queue


def _when(phrases_weekdays: list[str], moment: datetime, zone: ZoneInfo | None) -> dict[str, str]:
    local = moment.astimezone(zone) if zone else moment
    return {"weekday": phrases_weekdays[local.weekday()], "time": local.strftime("%H:%M")}


def transfer(menu: Menu, node_id: str, language: str, situation: Situation, *, sorry: bool = False) -> Step:
    """Put the caller through to a human, or say why not and offer a callback."""
    node = menu.nodes[node_id]
    phrases = menu.phrase(language)
    queue = node.queue or ""
    lead = ((_say(language, phrases.sorry),) if sorry else ()) + _prompt(menu, node, language)
    if not situation.is_open:
        closed: tuple[Speech, ...] = ()
        if situation.next_opening is not None:
            closed = (
                _say(
                    language, phrases.closed.format(**_when(phrases.weekdays, situation.next_opening, situation.zone))
                ),
            )
        return callback_offer(menu, node_id, language, situation, lead=lead + closed, outcome="closed")
    mode = node.mode or menu.human.mode
    free = situation.free_agent_numbers
    if situation.agents_on_shift <= 0 or (mode == "dial" and not free):
        # Never a queue nobody answers.
        return callback_offer(
            menu, node_id, language, situation, lead=(*lead, _say(language, phrases.no_agents)), outcome="no_agents"
        )
    speech = (*lead, _say(language, phrases.connecting))
    if mode == "dial":
        return Step(
            node_id,
            speech=speech,
            then=DialAgents(free, menu.human.ring_timeout, Route.to("dial_done", n=node_id, l=language, q=queue)),
            outcome="human",
        )
    return Step(
        node_id,
        speech=speech,
        then=Enqueue(
            queue,
            wait=Route.to("wait", n=node_id, l=language, q=queue),
            action=Route.to("queue_done", n=node_id, l=language, q=queue),
        ),
        outcome="human",
    )


def callback_offer(
    menu: Menu,
    node_id: str,
    language: str,
    situation: Situation,
    *,
    lead: tuple[Speech, ...] = (),
    sorry: bool = False,
    retries: int = 0,
    outcome: str = "callback_offer",
) -> Step:
    """`1` call me back on this number, `2` another number; withheld caller ID goes straight to `2`."""
    phrases = menu.phrase(language)
    node = menu.nodes.get(node_id)
    if node is not None and node.type == "callback" and not lead:
        lead = _prompt(menu, node, language)
    if sorry:
        lead = (_say(language, phrases.sorry), *lead)
    if not situation.caller_known:
        entry = number_entry(menu, node_id, language)
        return Step(
            node_id,
            speech=(*lead, _say(language, phrases.callback_offer_no_caller_id), *entry.speech),
            listen=entry.listen,
            then=entry.then,
            outcome=outcome,
        )
    route = Route.to("offer", n=node_id, l=language, r=retries or None)
    return Step(
        node_id,
        speech=(*lead, _say(language, phrases.callback_offer)),
        listen=Listen(route, timeout=menu.gather_timeout, num_digits=1, speech_language=None),
        then=Redirect(route),
        outcome=outcome,
    )


@dataclass(frozen=True)
class RequestCallback:
    """The caller accepted a callback; the view stores it (a durable request) and then calls `booked`."""

    node: str
    language: str
    phone: str | None  # None: the caller's own number (from caller ID)


def offer_input(
    menu: Menu, node_id: str, language: str, heard: CallerInput, retries: int, situation: Situation
) -> Step | RequestCallback:
    """What a key press at the callback offer means."""
    if heard.kind == "keys" and heard.keys == "1":
        if situation.caller_known:
            return RequestCallback(node_id, language, None)
        return number_entry(menu, node_id, language)
    if heard.kind == "keys" and heard.keys == "2":
        return number_entry(menu, node_id, language)
    if heard.wants_human and menu.operator != node_id and menu.nodes[menu.operator].type == "transfer":
        if situation.is_open and situation.agents_on_shift > 0:
            return transfer(menu, menu.operator, language, situation)
    if heard.wants_human or heard.wants_repeat:
        return callback_offer(menu, node_id, language, situation, retries=retries)
    if retries >= menu.max_retries:
        # The offer is the last resort; a caller silent through it three times has gone.
        return Step(node_id, speech=(_say(language, menu.phrase(language).goodbye),), then=Hangup(), outcome="no_input")
    return callback_offer(menu, node_id, language, situation, sorry=True, retries=retries + 1)


def number_entry(menu: Menu, node_id: str, language: str, *, sorry: bool = False, retries: int = 0) -> Step:
    phrases = menu.phrase(language)
    lead = (_say(language, phrases.number_rejected),) if sorry else ()
    route = Route.to("number", n=node_id, l=language, r=retries or None)
    return Step(
        node_id,
        speech=(*lead, _say(language, phrases.enter_number)),
        listen=Listen(route, timeout=NUMBER_ENTRY_SECONDS, num_digits=None, finish_on_key="#"),
        then=Redirect(route),
        outcome="callback_offer",
    )


def number_entered(
    menu: Menu, node_id: str, language: str, heard: CallerInput, e164: str | None, retries: int,
    situation: Situation,
) -> Step | RequestCallback:
    """Read a valid number back digit by digit for confirmation; re-ask (at most twice) when it is not valid.

    `0` alone is no phone number: here as everywhere it asks for a person (or the offer again when none can answer).
    """
    if heard.wants_human:
        return offer_input(menu, node_id, language, heard, retries, situation)
    if e164 is None or heard.kind != "keys":
        if retries >= menu.max_retries:
            phrases = menu.phrase(language)
            return Step(
                node_id,
                speech=(_say(language, phrases.number_rejected), _say(language, phrases.goodbye)),
                then=Hangup(),
                outcome="number_rejected",
            )
        return number_entry(menu, node_id, language, sorry=True, retries=retries + 1)
    route = Route.to("confirm", n=node_id, l=language, num=e164)
    return Step(
        node_id,
        speech=(_say(language, menu.phrase(language).read_back.format(digits=" ".join(heard.keys))),),
        listen=Listen(route, timeout=menu.gather_timeout, num_digits=1),
        then=Redirect(route),
        outcome="callback_offer",
    )


def confirm_input(menu: Menu, node_id: str, language: str, heard: CallerInput, e164: str) -> Step | RequestCallback:
    if heard.kind == "keys" and heard.keys == "1":
        return RequestCallback(node_id, language, e164)
    return number_entry(menu, node_id, language)


def opted_out(menu: Menu, node_id: str, language: str, e164: str, *, own: bool) -> Step:
    """The number asked for is on the do-not-call list. Said plainly; the caller's own number may opt back in
    with 1 (a number typed for someone else may not: only its owner can take it off the list)."""
    phrases = menu.phrase(language)
    if not own:
        entry = number_entry(menu, node_id, language)
        return replace(entry, speech=(_say(language, phrases.opted_out_other), *entry.speech), outcome="do_not_call")
    route = Route.to("optin", n=node_id, l=language, num=e164)
    return Step(
        node_id,
        speech=(_say(language, phrases.opted_out_own),),
        listen=Listen(route, timeout=menu.gather_timeout, num_digits=1),
        then=Redirect(route),
        outcome="do_not_call",
    )


def opt_in_input(menu: Menu, node_id: str, language: str, heard: CallerInput, e164: str) -> Step | RequestCallback:
    """`1` after hearing the number is on the list: opt back in and book; anything else: goodbye."""
    if heard.kind == "keys" and heard.keys == "1":
        return RequestCallback(node_id, language, e164)
    return Step(node_id, speech=(_say(language, menu.phrase(language).goodbye),), then=Hangup(),
                outcome="do_not_call")


def booked(
    menu: Menu, node_id: str, language: str, deadline: datetime, reference: str, existing: bool, zone: ZoneInfo | None,
    promise: str | None = None,
) -> Step:
    """Tell the caller when they will be called (the open request's promise when they already had one).

    `promise` is where a new promise came from (`Callback.deadline_from`): a forecast later than the SLA is said
    to be so, and beyond the queue's ceiling the caller hears plainly that we are overloaded.
    """
    phrases = menu.phrase(language)
    template = phrases.callback_existing if existing else phrases.callback_confirmed
    lead: tuple[Speech, ...] = ()
    if not existing and promise == "ceiling":
        template = phrases.callback_overloaded
    elif not existing and promise == "forecast":
        lead = (_say(language, phrases.callback_later),)
    spoken_reference = " ".join(reference.replace("-", ""))
    text = template.format(reference=spoken_reference, **_when(phrases.weekdays, deadline, zone))
    return Step(
        node_id,
        speech=(*lead, _say(language, text), _say(language, phrases.goodbye)),
        then=Hangup(),
        outcome="callback_requested",
    )


def hold(menu: Menu, node_id: str, language: str, position: int | None, expected_minutes: int | None) -> Step:
    """Announcement for a caller waiting in a queue, hold music, and `1` to leave for a callback."""
    phrases = menu.phrase(language)
    speech: list[Speech] = []
    if position is not None and position > 0 and expected_minutes is not None:
        speech.append(
            _say(language, phrases.queue_position.format(position=position, minutes=max(1, expected_minutes)))
        )
    speech.append(_say(language, phrases.queue_leave))
    route = Route.to("leave", n=node_id, l=language)
    return Step(
        node_id,
        speech=tuple(speech),
        listen=Listen(route, timeout=1, num_digits=1, on_empty=False),
        hold=HoldMusic(menu.human.hold_music or None, menu.human.announce_every),
        then=Redirect(Route.to("wait", n=node_id, l=language)),
    )


def leave_input(menu: Menu, node_id: str, language: str, heard: CallerInput) -> Step:
    if heard.kind == "keys" and heard.keys == "1":
        return Step(node_id, then=Leave(), outcome="left_queue")
    return Step(node_id, then=Redirect(Route.to("wait", n=node_id, l=language)))


def queue_result(menu: Menu, node_id: str, language: str, result: str, situation: Situation) -> Step:
    """After `<Enqueue>` ends: a finished conversation hangs up, anything else becomes a callback offer."""
    if result in ("bridged", "redirected", "hangup"):
        return Step(node_id, then=Hangup(), outcome="human" if result != "hangup" else "hung_up")
    phrases = menu.phrase(language)
    lead = () if result == "leave" else (_say(language, phrases.no_agents),)
    return callback_offer(menu, node_id, language, situation, lead=lead)


def dial_result(menu: Menu, node_id: str, language: str, status: str, situation: Situation) -> Step:
    """After `<Dial>` to agents: answered means done; busy, no answer or failure means the callback offer."""
    if status in ("completed", "answered"):
        return Step(node_id, then=Hangup(), outcome="human")
    phrases = menu.phrase(language)
    return callback_offer(menu, node_id, language, situation, lead=(_say(language, phrases.no_agents),))


def one_moment(language: str, menu: Menu, retry: Route) -> Step:
    """The database is slow: keep the caller with a word and come back (the route carries the retry count)."""
    return Step("wait", speech=(_say(language, menu.phrase(language).one_moment),), then=Redirect(retry))


def trouble(menu: Menu, node_id: str, language: str, situation: Situation | None = None) -> Step:
    """The database stayed down: the configured fallback number, else the callback offer (its request is
    recorded in the local spool and stored later); with no `situation` (the spool failed too), an apology."""
    phrases = menu.phrase(language)
    if menu.human.fallback_number:
        return Step(
            node_id,
            speech=(_say(language, phrases.connecting),),
            then=DialAgents(
                (menu.human.fallback_number,), menu.human.ring_timeout, Route.to("dial_done", n=node_id, l=language)
            ),
            outcome="fallback_number",
        )
    if situation is not None:
        return callback_offer(
            menu, node_id, language, situation, lead=(_say(language, phrases.trouble_offer),), outcome="database_down"
        )
    return Step(node_id, speech=(_say(language, phrases.trouble),), then=Hangup(), outcome="database_down")


def recorded(menu: Menu, node_id: str, language: str, deadline: datetime, zone: ZoneInfo | None) -> Step:
    """The promise for a callback taken while the database is down (no reference yet: the spool has it)."""
    phrases = menu.phrase(language)
    text = phrases.callback_recorded.format(**_when(phrases.weekdays, deadline, zone))
    return Step(
        node_id,
        speech=(_say(language, text), _say(language, phrases.goodbye)),
        then=Hangup(),
        outcome="callback_requested",
    )


__all__ = [
    "CallerInput",
    "Decision",
    "DialAgents",
    "Enqueue",
    "Hangup",
    "HoldMusic",
    "Leave",
    "Listen",
    "Redirect",
    "RequestCallback",
    "Route",
    "Situation",
    "Speech",
    "Step",
]
