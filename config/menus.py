"""The phone tree (`ivr:` in the contact-centre YAML) as typed models, and the load-time proof of its promises.

The proof walks the menu the way a caller would: from every node, `0` (following the nodes it leads to)
must reach a human or a callback offer within `max_presses_to_human` key presses; every referenced node
must exist; options only live on menu nodes (which always gather input); every configured language has
a prompt, a voice and the built-in phrases.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from config.problems import validation_problems
from config.schema import ContactCentre

# Keys every caller can rely on (DESIGN.md): `0` a human, `*` repeat. Options may not take them.
OPERATOR_KEY = "0"
REPEAT_KEY = "*"
# Spoken words that always escape to a human, in any language the caller happens to use.
OPERATOR_WORDS = ("operator", "agent", "human", "representative", "اپراتور", "کارشناس")
DEFAULT_HOLD_MUSIC = "http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3"
HUMAN_KINDS = ("transfer", "callback")
_NODE_ID = re.compile(r"^[A-Za-z0-9_-]{1,60}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prompt(Strict):
    """What a caller hears: text spoken with `<Say>` (or its rendered audio), or an audio file/URL played."""

    say: str | None = None
    play: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Prompt:
        if bool(self.say and self.say.strip()) == bool(self.play and self.play.strip()):
            raise ValueError("give exactly one of `say` (text) or `play` (an audio file or URL)")
        return self


def _prompts(value: Any) -> Any:
    # `prompt: {en: "Hello"}` is short for `prompt: {en: {say: "Hello"}}`.
    if isinstance(value, dict):
        return {k: {"say": v} if isinstance(v, str) else v for k, v in value.items()}
    return value


Prompts = Annotated[dict[str, Prompt], BeforeValidator(_prompts)]


class Option(Strict):
    """One choice in a menu: a key and/or spoken words per language, leading to a node."""

    key: str | None = None
    words: dict[str, list[str]] = {}
    goto: str

    @field_validator("key", mode="before")
    @classmethod
    def _key(cls, value: Any) -> Any:
        if value is None:
            return None
        value = str(value)
        if value == OPERATOR_KEY:
            raise ValueError("`0` is reserved: it always reaches a human")
        if value == REPEAT_KEY:
            raise ValueError("`*` is reserved: it always repeats the menu")
        if not re.fullmatch(r"[1-9#]", value):
            raise ValueError(f"a key is one of 1-9 or #, got {value!r}")
        return value

    @model_validator(mode="after")
    def _reachable(self) -> Option:
        if self.key is None and not any(self.words.values()):
            raise ValueError("an option needs a `key` or spoken `words`")
        return self


NodeType = Literal["menu", "message", "collect", "transfer", "callback", "goodbye"]


class Node(Strict):
    """A point in the phone tree. `type` decides which of the other settings apply."""

    type: NodeType
    prompt: Prompts = {}
    # menu
    options: list[Option] = []
    # message, collect: where the call goes next (a message without `next` returns where it came from)
    next: str | None = None
    # transfer, callback: the queue (default: the centre's default queue)
    queue: str | None = None
    # transfer: how a human is reached (default: ivr.human.mode)
    mode: Literal["enqueue", "dial"] | None = None
    # collect: digits such as an order number
    min_length: int = Field(1, ge=1, le=30)
    max_length: int = Field(12, ge=1, le=30)
    check: Literal["none", "luhn"] = "none"
    confirm: bool = True
    sensitive: bool = True
    # where `0` goes from here (default: ivr.operator)
    zero: str | None = None
    # seconds to wait for input (default: ivr.gather_timeout)
    timeout: int | None = Field(None, ge=1, le=60)


class Voice(Strict):
    """How text is spoken in one language: Twilio voice name and BCP-47 tag (also for speech recognition)."""

    language: str
    voice: str | None = None

    @field_validator("language")
    @classmethod
    def _tag(cls, value: str) -> str:
        if not re.fullmatch(r"[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*", value):
            raise ValueError(f"expected a language tag such as en-US or fa-IR, got {value!r}")
        return value


class LanguageChoice(Strict):
    """How the caller's language is chosen: by the number called, else a first menu (keys -> language)."""

    by_called_number: dict[str, str] = {}
    keys: dict[str, str] = {}
    prompt: Prompts = {}

    @field_validator("keys", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}
        return value


class Human(Strict):
    """How callers reach people."""

    mode: Literal["enqueue", "dial"] = "enqueue"
    ring_timeout: int = Field(20, ge=5, le=600)
    # Seconds of hold music between announcements of position and expected wait.
    announce_every: int = Field(30, ge=5, le=600)
    hold_music: str = DEFAULT_HOLD_MUSIC
    # Dialled when the database cannot be reached; empty: the callback offer, recorded in the local spool.
    fallback_number: str | None = None
    # Expected wait per caller ahead when history gives nothing better (seconds).
    default_handle_time: int = Field(180, ge=10, le=3600)


class Phrases(Strict):
    """The phone tree's own sentences in one language. `{...}` are filled in when spoken."""

    sorry: str
    closed: str
    no_agents: str
    connecting: str
    callback_offer: str
    callback_offer_no_caller_id: str
    enter_number: str
    read_back: str
    number_rejected: str
    callback_confirmed: str
    callback_existing: str
    # Said before the promise when the capacity forecast could not keep the queue's SLA.
    callback_later: str
    # Instead of the promise when the forecast is beyond the queue's ceiling.
    callback_overloaded: str
    queue_position: str
    queue_leave: str
    one_moment: str
    trouble: str
    # The database stayed down: the callback offer (recorded in the local spool), then its promise.
    trouble_offer: str
    callback_recorded: str
    goodbye: str
    collected_read_back: str
    invalid_entry: str
    weekdays: list[str] = Field(min_length=7, max_length=7)
    # A number on the do-not-call list asked for a callback: the caller's own (who may opt back in) or another.
    opted_out_own: str = ("This number asked never to be called by us, so we cannot call it back. "
                          "To be called by us again, press 1.")
    opted_out_other: str = "That number asked never to be called by us, so we cannot call it."


DEFAULT_PHRASES: dict[str, dict[str, Any]] = {
    "en": {
        "sorry": "Sorry, I did not get that.",
        "closed": "We are closed right now. We open again on {weekday} at {time}.",
        "no_agents": "All our agents are busy or away right now.",
        "connecting": "Connecting you to an agent.",
        "callback_offer": (
            "We can call you back. To be called back on the number you are calling from, press 1. "
            "To enter another number, press 2."
        ),
        "callback_offer_no_caller_id": "We can call you back. We cannot see your number, so please enter it.",
        "enter_number": "Please enter the phone number to call back, then press the hash key.",
        "read_back": "You entered {digits}. If that is right, press 1. To enter it again, press 2.",
        "number_rejected": "Sorry, we cannot call that number.",
        "callback_confirmed": "Thank you. We will call you back by {weekday} at {time}. Your reference is {reference}.",
        "callback_existing": (
            "You already have a callback request. We will call you back by {weekday} at {time}. "
            "Your reference is {reference}."
        ),
        "callback_later": "We are busier than usual, so we cannot call you back as soon as we normally would.",
        "callback_overloaded": (
            "We are overloaded right now and cannot promise you a time. We will do our best to call you back by "
            "{weekday} at {time}. Your reference is {reference}."
        ),
        "queue_position": "You are number {position} in line. The expected wait is about {minutes} minutes.",
        "queue_leave": "To leave the line and be called back, keeping your place, press 1.",
        "one_moment": "One moment please.",
        "trouble": "Sorry, we cannot take your request right now. Please call again later.",
        "trouble_offer": "Sorry, our system is having trouble right now, but we can still call you back.",
        "callback_recorded": "Thank you. We have your number and will call you back by {weekday} at {time}.",
        "goodbye": "Thank you for calling. Goodbye.",
        "collected_read_back": "You entered {digits}. If that is right, press 1. To enter it again, press 2.",
        "invalid_entry": "That number does not look right.",
        "opted_out_own": (
            "This number asked never to be called by us, so we cannot call it back. "
            "To be called by us again, press 1."
        ),
        "opted_out_other": "That number asked never to be called by us, so we cannot call it.",
        "weekdays": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    },
    "fa": {
        "sorry": "متأسفم، متوجه نشدم.",
        "closed": "در حال حاضر تعطیل هستیم. {weekday} ساعت {time} دوباره باز می‌شویم.",
        "no_agents": "در حال حاضر همهٔ کارشناسان ما مشغول یا در دسترس نیستند.",
        "connecting": "در حال وصل کردن شما به کارشناس.",
        "callback_offer": (
            "می‌توانیم با شما تماس بگیریم. برای تماس با همین شماره، ۱ را فشار دهید. "
            "برای وارد کردن شمارهٔ دیگر، ۲ را فشار دهید."
        ),
        "callback_offer_no_caller_id": "می‌توانیم با شما تماس بگیریم. شمارهٔ شما را نمی‌بینیم، لطفاً آن را وارد کنید.",
        "enter_number": "لطفاً شماره‌ای را که باید با آن تماس بگیریم وارد کنید و سپس کلید مربع را فشار دهید.",
        "read_back": "شما {digits} را وارد کردید. اگر درست است ۱ را فشار دهید. برای وارد کردن دوباره ۲ را فشار دهید.",
        "number_rejected": "متأسفم، نمی‌توانیم با این شماره تماس بگیریم.",
        "callback_confirmed": (
            "سپاسگزاریم. تا {weekday} ساعت {time} با شما تماس می‌گیریم. کد پیگیری شما {reference} است."
        ),
        "callback_existing": (
            "شما درخواست تماس ثبت‌شده‌ای دارید. تا {weekday} ساعت {time} با شما تماس می‌گیریم. "
            "کد پیگیری شما {reference} است."
        ),
        "callback_later": "سرمان از همیشه شلوغ‌تر است و نمی‌توانیم به زودیِ همیشه با شما تماس بگیریم.",
        "callback_overloaded": (
            "در حال حاضر سرمان بسیار شلوغ است و نمی‌توانیم زمانی قول بدهیم. تلاش می‌کنیم تا {weekday} ساعت {time} "
            "با شما تماس بگیریم. کد پیگیری شما {reference} است."
        ),
        "queue_position": "شما نفر {position} در صف هستید. زمان انتظار حدود {minutes} دقیقه است.",
        "queue_leave": "برای خروج از صف و دریافت تماس بدون از دست دادن نوبت، ۱ را فشار دهید.",
        "one_moment": "لطفاً چند لحظه صبر کنید.",
        "trouble": "متأسفم، در حال حاضر نمی‌توانیم درخواست شما را ثبت کنیم. لطفاً بعداً تماس بگیرید.",
        "trouble_offer": "متأسفم، سامانهٔ ما در حال حاضر دچار مشکل است، اما همچنان می‌توانیم با شما تماس بگیریم.",
        "callback_recorded": "سپاسگزاریم. شمارهٔ شما را داریم و تا {weekday} ساعت {time} با شما تماس می‌گیریم.",
        "goodbye": "از تماس شما سپاسگزاریم. خدانگهدار.",
        "collected_read_back": (
            "شما {digits} را وارد کردید. اگر درست است ۱ را فشار دهید. برای وارد کردن دوباره ۲ را فشار دهید."
        ),
        "invalid_entry": "این شماره درست به نظر نمی‌رسد.",
        "opted_out_own": (
            "این شماره خواسته است که هرگز با آن تماس نگیریم، پس نمی‌توانیم با آن تماس بگیریم. "
            "اگر می‌خواهید دوباره با شما تماس بگیریم، ۱ را فشار دهید."
        ),
        "opted_out_other": "آن شماره خواسته است که هرگز با آن تماس نگیریم، پس نمی‌توانیم با آن تماس بگیریم.",
        "weekdays": ["دوشنبه", "سه‌شنبه", "چهارشنبه", "پنجشنبه", "جمعه", "شنبه", "یکشنبه"],
    },
}
DEFAULT_VOICES: dict[str, dict[str, str]] = {
    "en": {"language": "en-US", "voice": "Polly.Joanna"},
    # Twilio has no Persian voice: `ivr prompts render` makes audio with espeak-ng; Say is the fallback.
    "fa": {"language": "fa-IR"},
}


class Menu(Strict):
    """The whole phone tree."""

    start: str
    # Where `0` goes unless a node says otherwise: a transfer or callback node.
    operator: str
    max_presses_to_human: int = Field(3, ge=1, le=10)
    # Re-prompts after silence or an invalid key before the caller is routed to a human.
    max_retries: int = Field(2, ge=0, le=2)
    gather_timeout: int = Field(5, ge=1, le=60)
    language: LanguageChoice = LanguageChoice()
    voices: dict[str, Voice] = {}
    human: Human = Human()
    phrases: dict[str, Phrases] = {}
    nodes: dict[str, Node]

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def zero_target(self, node_id: str) -> str:
        """The node `0` leads to from `node_id`."""
        return self.nodes[node_id].zero or self.operator

    def nearest_human(self, node_id: str) -> str:
        """The transfer or callback node that repeated `0` from `node_id` reaches (the operator if none)."""
        seen: set[str] = set()
        while node_id in self.nodes and node_id not in seen:
            if self.nodes[node_id].type in HUMAN_KINDS:
                return node_id
            seen.add(node_id)
            node_id = self.zero_target(node_id)
        return self.operator

    def voice(self, language: str) -> Voice:
        return self.voices.get(language) or Voice(**DEFAULT_VOICES.get(language, {"language": language}))

    def phrase(self, language: str) -> Phrases:
        return self.phrases[language]


def default_menu_data(centre: ContactCentre) -> dict[str, Any]:
    """The phone tree of a file without `ivr:`: straight to a human in the default queue."""
    return {
        "start": "agent",
        "operator": "agent",
        "nodes": {"agent": {"type": "transfer", "queue": centre.default_queue}},
    }


def _with_defaults(data: dict[str, Any], centre: ContactCentre) -> dict[str, Any]:
    data = dict(data)
    phrases = dict(data.get("phrases") or {})
    for lang in centre.languages:
        if lang in DEFAULT_PHRASES:
            phrases[lang] = {**DEFAULT_PHRASES[lang], **(phrases.get(lang) or {})}
    data["phrases"] = phrases
    voices = dict(data.get("voices") or {})
    for lang in centre.languages:
        if lang not in voices and lang in DEFAULT_VOICES:
            voices[lang] = DEFAULT_VOICES[lang]
    data["voices"] = voices
    return data


def parse_menu(centre: ContactCentre) -> Menu:
    """Build the Menu from `centre.ivr` (raises pydantic's ValidationError on structural problems)."""
    data = centre.ivr or default_menu_data(centre)
    return Menu.model_validate(_with_defaults(data, centre))


_cache: list[tuple[ContactCentre, Menu]] = []


def menu_of(centre: ContactCentre) -> Menu:
    """The centre's phone tree (parsed once per centre object). The loader has already proved it."""
    for known, menu in _cache:
        if known is centre:
            return menu
    menu = parse_menu(centre)
    _cache.append((centre, menu))
    del _cache[:-8]
    return menu


# ---------------------------------------------------------------------------------------------------
# The proof


Loc = tuple[Any, ...]
# A broken promise: where under `ivr` (a YAML path) and what is wrong.
Problem = tuple[Loc, str]


def presses_to_human(menu: Menu) -> dict[str, int | None]:
    """Key presses of `0` (following automatic `next` hops) from each node to a transfer or callback node.

    None means `0` never gets there (a loop or a missing node)."""
    result: dict[str, int | None] = {}
    for start in menu.nodes:
        node_id, presses, seen = start, 0, set()
        while True:
            node = menu.nodes.get(node_id)
            if node is None or node_id in seen:
                result[start] = None
                break
            if node.type in HUMAN_KINDS:
                result[start] = presses
                break
            seen.add(node_id)
            node_id = menu.zero_target(node_id)
            presses += 1
    return result


def prove(menu: Menu, centre: ContactCentre) -> Iterator[Problem]:
    """Every broken promise of `menu`, as (path under `ivr`, message), check by check (`PROOF`)."""
    for check in PROOF:
        yield from check(menu, centre)


# One function per promise of DESIGN.md's "No dead ends" (a human one key away, a call always moves on, the
# caller understood in their language), plus the rule of form the messages rely on (plain node ids).


def node_ids_are_plain(menu: Menu, centre: ContactCentre) -> Iterator[Problem]:
    """Node ids are short words, so they read well in URLs, logs and reports."""
    bad_ids = [n for n in menu.nodes if not _NODE_ID.match(n)]
    if bad_ids:
        yield ("nodes",), f"node ids must be letters, digits, '_' or '-' (at most 60), got {bad_ids}"


def every_reference_is_a_node(menu: Menu, centre: ContactCentre) -> Iterator[Problem]:
    """`start`, `operator`, and every `zero`, `next` and option's `goto` name a node that exists."""
    references: list[tuple[Loc, str | None, str]] = [
        (("start",), menu.start, "start node"),
        (("operator",), menu.operator, "operator node"),
    ]
    for node_id, node in menu.nodes.items():
        here: Loc = ("nodes", node_id)
        references += [((*here, "zero"), node.zero, "`zero` leads to"), ((*here, "next"), node.next, "`next` leads to")]
        references += [((*here, "options", i, "goto"), option.goto, "`goto`") for i, option in enumerate(node.options)]
    for loc, target, what in references:
        if target is not None and target not in menu.nodes:
            yield loc, f"{what} {target!r} is not a node (nodes are {sorted(menu.nodes)})"


def zero_reaches_a_human(menu: Menu, centre: ContactCentre) -> Iterator[Problem]:
    """From every node, pressing `0` (again and again) reaches a transfer or callback node, soon enough."""
    operator = menu.nodes.get(menu.operator)
    if operator is not None and operator.type not in HUMAN_KINDS:
        yield ("operator",), f"`0` must lead to a transfer or callback node; {menu.operator!r} is a {operator.type}"
    for node_id, node in menu.nodes.items():
        if node.zero in menu.nodes and menu.nodes[node.zero].type == "goodbye":
            yield ("nodes", node_id, "zero"), "`0` may not lead to a goodbye: it is the way to a human"
    for node_id, presses in presses_to_human(menu).items():
        if presses is None:
            yield ("nodes", node_id, "zero"), "pressing 0 from here never reaches a transfer or callback node (a loop?)"
        elif presses > menu.max_presses_to_human:
            yield (
                ("nodes", node_id, "zero"),
                f"a human is {presses} presses of 0 away; max_presses_to_human is {menu.max_presses_to_human}",
            )


def humans_answer_in_known_queues(menu: Menu, centre: ContactCentre) -> Iterator[Problem]:
    """A transfer or callback node puts the caller in a queue the centre has."""
    for node_id, node in menu.nodes.items():
        queue = node.queue or centre.default_queue
        if node.type in HUMAN_KINDS and queue not in centre.queues:
            yield ("nodes", node_id, "queue"), f"{queue!r} is not one of the queues {sorted(centre.queues)}"


def every_node_moves_on(menu: Menu, centre: ContactCentre) -> Iterator[Problem]:
    """A call never stalls: messages and collected digits lead on, and messages do not talk in a ring."""
    start = menu.nodes.get(menu.start)
    if start is not None and start.type == "message" and not start.next:
        yield ("nodes", menu.start, "next"), "the start node is a message: it needs `next`"
    for node_id, node in menu.nodes.items():
        if node.type != "collect":
            continue
        if not node.next:
            yield ("nodes", node_id, "next"), "a collect node needs `next` (where the call goes after)"
        if node.min_length > node.max_length:
            yield ("nodes", node_id, "min_length"), "min_length is more than max_length"
    for node_id in menu.nodes:
        # Messages move on by themselves: a ring of them would talk to a silent caller forever.
        hop, seen = node_id, set()
        while hop in menu.nodes and menu.nodes[hop].type == "message" and menu.nodes[hop].next and hop not in seen:
            seen.add(hop)
            hop = menu.nodes[hop].next or ""
        if hop in seen:
            yield ("nodes", node_id, "next"), "messages lead to each other in a ring with no menu"


def options_live_on_menus(menu: Menu, centre: ContactCentre) -> Iterator[Problem]:
    """Only menu nodes gather input for options, and every menu offers at least one."""
    for node_id, node in menu.nodes.items():
        if node.options and node.type != "menu":
            yield ("nodes", node_id, "options"), f"only menu nodes gather input for options; this is a {node.type} node"
        if node.type == "menu" and not node.options:
            yield ("nodes", node_id, "options"), "a menu needs at least one option (use a message otherwise)"


def options_are_unambiguous(menu: Menu, centre: ContactCentre) -> Iterator[Problem]:
    """Within a menu each key and each spoken word leads to one option, and the words for a human stay reserved."""
    reserved = {normalise_speech(w) for w in OPERATOR_WORDS}
    for node_id, node in menu.nodes.items():
        keys: set[str] = set()
        words: dict[str, set[str]] = {}
        for i, option in enumerate(node.options):
            at: Loc = ("nodes", node_id, "options", i)
            if option.key is not None:
                if option.key in keys:
                    yield (*at, "key"), f"key {option.key!r} is used twice in this menu"
                keys.add(option.key)
            for lang, spoken in option.words.items():
                if lang not in centre.languages:
                    yield (*at, "words", lang), f"{lang!r} is not one of the languages {list(centre.languages)}"
                heard = words.setdefault(lang, set())
                for word in spoken:
                    norm = normalise_speech(word)
                    if not norm:
                        yield (*at, "words", lang), "an empty word cannot be recognised"
                    elif norm in reserved:
                        yield (*at, "words", lang), f"{word!r} is reserved: it reaches a human"
                    elif norm in heard:
                        yield (*at, "words", lang), f"{word!r} is used twice in this menu"
                    heard.add(norm)


def every_language_is_spoken(menu: Menu, centre: ContactCentre) -> Iterator[Problem]:
    """Every configured language has the built-in phrases and a prompt wherever one is heard; no stray language."""
    languages = list(centre.languages)
    for lang in languages:
        if lang not in menu.phrases:
            yield ("phrases",), f"no phrases for language {lang!r} (built-in ones exist for en and fa)"
    for lang in menu.voices:
        if lang not in languages:
            yield ("voices", lang), f"{lang!r} is not one of the languages {languages}"
    for node_id, node in menu.nodes.items():
        here: Loc = ("nodes", node_id)
        if node.type in ("menu", "message", "collect") or node.prompt:
            missing = [lang for lang in languages if lang not in node.prompt]
            if missing:
                yield (*here, "prompt"), f"no prompt in {missing} (languages are {languages})"
        for lang in node.prompt:
            if lang not in languages:
                yield (*here, "prompt", lang), f"{lang!r} is not one of the languages {languages}"


def the_language_choice_is_complete(menu: Menu, centre: ContactCentre) -> Iterator[Problem]:
    """Numbers choose configured languages; a language menu has a key and a prompt for each of them."""
    languages = list(centre.languages)
    choice = menu.language
    for number, lang in choice.by_called_number.items():
        if lang not in languages:
            yield ("language", "by_called_number", number), f"{lang!r} is not one of {languages}"
    if len(languages) < 2 or not choice.keys:
        return
    for key, lang in choice.keys.items():
        if not re.fullmatch(r"[1-9]", key):
            yield ("language", "keys", key), "language keys are 1-9"
        if lang not in languages:
            yield ("language", "keys", key), f"{lang!r} is not one of {languages}"
    missing = [lang for lang in languages if lang not in choice.keys.values()]
    if missing:
        yield ("language", "keys"), f"no key chooses {missing}"
    missing = [lang for lang in languages if lang not in choice.prompt]
    if missing:
        yield ("language", "prompt"), f"no prompt in {missing}"


MenuCheck = Callable[[Menu, ContactCentre], Iterator[Problem]]
# The whole proof, in the order its problems are listed.
PROOF: tuple[MenuCheck, ...] = (
    node_ids_are_plain,
    every_reference_is_a_node,
    zero_reaches_a_human,
    humans_answer_in_known_queues,
    every_node_moves_on,
    options_live_on_menus,
    options_are_unambiguous,
    every_language_is_spoken,
    the_language_choice_is_complete,
)


_SPEECH_JUNK = re.compile(r"[^\w\s]", re.UNICODE)
_ARABIC_TO_PERSIAN = str.maketrans({"ي": "ی", "ك": "ک", "ى": "ی", "ة": "ه", "\u200c": " "})


def normalise_speech(text: str) -> str:
    """Compare spoken words loosely: case, punctuation, Arabic/Persian letter variants, extra spaces."""
    text = _SPEECH_JUNK.sub(" ", text.translate(_ARABIC_TO_PERSIAN).casefold())
    return " ".join(text.split())


def phone_tree_problems(centre: ContactCentre) -> Iterator[Problem]:
    """The phone tree's problems under `ivr`: its structure (pydantic), then its promises (`prove`)."""
    try:
        menu = parse_menu(centre)
    except ValidationError as exc:
        for loc, msg in validation_problems(exc):
            yield ("ivr", *loc), msg
        return
    for loc, message in prove(menu, centre):
        yield ("ivr", *loc), message
