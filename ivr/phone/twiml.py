"""The only place Steps become TwiML, built with the `twilio` package's VoiceResponse.

Two traps the schema oracle catches, avoided here: the builder writes attribute values as given, so every
numeric attribute is passed as an int and every list (hints, events) as one space- or comma-separated string.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from twilio.twiml.voice_response import Gather, VoiceResponse

from config.menus import Menu
from ivr.phone.navigator import DialAgents, Enqueue, Hangup, Leave, Redirect, Route, Speech, Step

# URL paths of our webhooks by route name (all under /twilio so one signature check covers them).
PATHS = {
    "voice": "/twilio/voice",
    "node": "/twilio/ivr/node",
    "input": "/twilio/ivr/input",
    "language": "/twilio/ivr/language",
    "offer": "/twilio/ivr/offer",
    "number": "/twilio/ivr/number",
    "confirm": "/twilio/ivr/number/confirm",
    "optin": "/twilio/ivr/optin",
    "wait": "/twilio/ivr/queue/wait",
    "leave": "/twilio/ivr/queue/leave",
    "queue_done": "/twilio/ivr/queue/done",
    "dial_done": "/twilio/ivr/dial/done",
}
# Routes that expect the caller's input: a Redirect to one of them without a Gather before it would
# re-ask forever without ever listening.
_INPUT_ROUTES = {"input", "language", "offer", "number", "confirm", "optin"}
MAX_HINTS_CHARS = 1000


class OptionsWithoutGather(ValueError):
    """A step asks for input but gives the caller no Gather to answer in."""


def url_for(route: Route, base_url: str) -> str:
    """Absolute URL of `route` under `base_url` (PUBLIC_BASE_URL: what Twilio requests and signs)."""
    query = urlencode(route.params)
    return f"{base_url}{PATHS[route.name]}" + (f"?{query}" if query else "")


AudioLookup = Callable[[Speech], str | None]


def _no_audio(_speech: Speech) -> str | None:
    return None


class Renderer:
    """Renders steps for one menu: voices per language, our base URL, rendered prompt audio."""

    def __init__(self, menu: Menu, base_url: str, audio_for: AudioLookup = _no_audio, audio_base: str = ""):
        self.menu = menu
        self.base_url = base_url.rstrip("/")
        self.audio_for = audio_for
        self.audio_base = audio_base or f"{self.base_url}/ivr/prompts"

    def url(self, route: Route) -> str:
        return url_for(route, self.base_url)

    def _speak(self, target: VoiceResponse | Gather, speech: Speech) -> None:
        if speech.audio:
            audio = speech.audio
            if not audio.startswith(("http://", "https://")):
                audio = f"{self.audio_base}/{audio.lstrip('/')}"
            target.play(audio)
            return
        if not speech.text:
            return
        rendered = self.audio_for(speech)
        if rendered:
            target.play(rendered)
            return
        voice = self.menu.voice(speech.language)
        kwargs = {"language": voice.language}
        if voice.voice:
            kwargs["voice"] = voice.voice
        target.say(speech.text, **kwargs)

    def render(self, step: Step) -> str:
        """The TwiML document for `step`."""
        response = VoiceResponse()
        listen = step.listen
        if listen is None:
            # A retry after "one moment" (`t`) carries the caller's input in its URL; anything else must listen.
            then = step.then
            if isinstance(then, Redirect) and then.route.name in _INPUT_ROUTES and then.route.param("t") is None:
                raise OptionsWithoutGather(
                    f"step at {step.node!r} redirects to {then.route.name} without a Gather"
                )
            for speech in step.speech:
                self._speak(response, speech)
        else:
            attrs: dict[str, object] = {
                "action": self.url(listen.action),
                "method": "POST",
                "timeout": int(listen.timeout),
                "input": "dtmf speech" if listen.speech_language else "dtmf",
                # No finish key unless asked: `#` may be a menu option.
                "finish_on_key": listen.finish_on_key or "",
            }
            if listen.num_digits is not None:
                attrs["num_digits"] = int(listen.num_digits)
            if listen.on_empty:
                attrs["action_on_empty_result"] = True
            if listen.speech_language:
                attrs["language"] = listen.speech_language
                attrs["speech_timeout"] = "auto"
                hints = ", ".join(h.replace(",", " ") for h in listen.hints)[:MAX_HINTS_CHARS]
                if hints:
                    attrs["hints"] = hints
            gather = response.gather(**attrs)
            for speech in step.speech:
                self._speak(gather, speech)
            if step.hold is not None:
                if step.hold.url:
                    gather.play(step.hold.url)
                else:
                    gather.pause(length=int(step.hold.pause_seconds))
        then = step.then
        if isinstance(then, Redirect):
            response.redirect(self.url(then.route), method="POST")
        elif isinstance(then, Hangup):
            response.hangup()
        elif isinstance(then, Leave):
            response.leave()
        elif isinstance(then, Enqueue):
            response.enqueue(
                then.queue,
                action=self.url(then.action),
                method="POST",
                wait_url=self.url(then.wait),
                wait_url_method="POST",
            )
        elif isinstance(then, DialAgents):
            dial = response.dial(
                action=self.url(then.action), method="POST", timeout=int(then.timeout), answer_on_bridge=True
            )
            for number in then.numbers:
                dial.number(number)
        return str(response.to_xml())


def bare(text: str | None = None, *, language: str = "en-US", hangup: bool = False) -> str:
    """A minimal valid document for answers outside any menu (errors before we know the caller's menu)."""
    response = VoiceResponse()
    if text:
        response.say(text, language=language)
    if hangup:
        response.hangup()
    return str(response.to_xml())
