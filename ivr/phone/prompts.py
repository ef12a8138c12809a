"""Prompt audio: Twilio's text-to-speech does not speak every language (Persian among them).

`ivr prompts render` turns every text prompt and phrase without audio into a WAV file with espeak-ng,
named by a hash of (language, text) so a changed text gets a new file; the phone tree plays the file
when it exists and falls back to `<Say>` when it does not.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from config.menus import Menu, Phrases, menu_of
from config.schema import ContactCentre

# espeak-ng voice names where they differ from our language codes.
ESPEAK_VOICES = {"fa": "fa", "en": "en-us", "ar": "ar"}


def audio_name(language: str, text: str) -> str:
    digest = hashlib.sha256(f"{language}\n{text}".encode()).hexdigest()[:20]
    return f"{digest}.wav"


class AudioIndex:
    """Rendered prompt files under `directory/<language>/`."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def path_for(self, language: str, text: str) -> Path:
        return self.directory / language / audio_name(language, text)

    def lookup_url(self, base_url: str) -> Callable[..., str | None]:
        """A function Speech -> public URL of its rendered audio, or None (then `<Say>` is used)."""

        def lookup(speech: object) -> str | None:
            language = getattr(speech, "language", "")
            text = getattr(speech, "text", None)
            if not text or not self.directory.is_dir():
                return None
            if self.path_for(language, text).is_file():
                return f"{base_url.rstrip('/')}/ivr/prompts/{language}/{audio_name(language, text)}"
            return None

        return lookup


def texts_to_render(menu: Menu, languages: list[str], only: list[str] | None = None) -> Iterator[tuple[str, str]]:
    """(language, text) of every spoken prompt and phrase with no audio of its own.

    Phrases with `{placeholders}` are filled in per call, so they cannot be rendered ahead and stay `<Say>`."""
    seen: set[tuple[str, str]] = set()

    def emit(lang: str, text: str | None) -> Iterator[tuple[str, str]]:
        if text and "{" not in text and (lang, text) not in seen and (only is None or lang in only):
            seen.add((lang, text))
            yield lang, text

    for node in menu.nodes.values():
        for lang, prompt in node.prompt.items():
            yield from emit(lang, prompt.say)
    for lang, prompt in menu.language.prompt.items():
        yield from emit(lang, prompt.say)
    for lang in languages:
        phrases: Phrases | None = menu.phrases.get(lang)
        if phrases is None:
            continue
        for name, value in phrases.model_dump().items():
            if isinstance(value, str) and name != "weekdays":
                yield from emit(lang, value)


class EspeakMissing(RuntimeError):
    """Prompt audio needs espeak-ng on this machine."""


def render_all(
    centre: ContactCentre, directory: Path, only: list[str] | None = None, force: bool = False
) -> list[Path]:
    """Render missing audio with espeak-ng; returns the files written."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise EspeakMissing("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    index = AudioIndex(directory)
    written = []
    for lang, text in texts_to_render(menu_of(centre), list(centre.languages), only):
        path = index.path_for(lang, text)
        if path.exists() and not force:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        # Text goes in as an argument list (no shell); 8 kHz mono is what a phone line carries anyway.
        subprocess.run(  # noqa: S603
            [espeak, "-v", ESPEAK_VOICES.get(lang, lang), "-w", str(path), text], check=True, capture_output=True
        )
        written.append(path)
    return written
