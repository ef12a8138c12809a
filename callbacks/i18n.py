"""The product's words in every language it has a catalogue for, and numbers and dates as each reader expects them.

One shape for every sentence a person reads on a page, in a report or in the digest: the English text is the msgid
(English is the source language and needs no catalogue), and each other language is a gettext catalogue,
`callbacks/translations/<lang>/LC_MESSAGES/messages.po`, read once per process with Babel's PO reader (no compile
step: a fresh clone runs as it is). A translator adds a language with a `.po` file and no Python; `pybabel extract`
(configured in pyproject.toml) finds every sentence, marked by `translate`, `ptranslate`, `N_` in Python and `_`,
`pgettext` in templates. docs/translations.md says how to add a language or a sentence.

No web framework here: the worker's digest uses it too. Persian readers see Solar Hijri (Jalali) dates with Persian
digits; all see times in the centre's timezone. Babel and jdatetime are imported where a catalogue, a locale or a
Jalali date is first needed: the phone tree and a worker whose digest is in English never need them (about 1.5 MiB a
process).
"""

from __future__ import annotations

import re
import threading
from datetime import date, datetime
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

from callbacks.digits import to_ascii, to_persian

SOURCE_LANGUAGE = "en"
CATALOGUES_DIR = Path(__file__).with_name("translations")
DOMAIN = "messages"
RTL_LANGUAGES = frozenset({"fa", "ar", "he", "ur", "ps", "ckb"})
_FIELD = re.compile(r"{(\w+)}")


class Catalogues:
    """The translations found under one folder (`<lang>/LC_MESSAGES/messages.po`), each read on first use.

    Only finished entries count: an empty or fuzzy msgstr falls back to the English msgid, as gettext does.
    """

    def __init__(self, folder: Path = CATALOGUES_DIR):
        self.folder = folder
        self._read: dict[str, dict[tuple[str | None, str], str]] = {}
        self._languages: tuple[str, ...] | None = None
        self._lock = threading.Lock()

    def path(self, lang: str) -> Path:
        return self.folder / lang / "LC_MESSAGES" / f"{DOMAIN}.po"

    def languages(self) -> tuple[str, ...]:
        """Every language with a catalogue, then English (the source language); looked up once."""
        if self._languages is None:
            found = sorted(p.parent.parent.name for p in self.folder.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
            self._languages = (*[lang for lang in found if lang != SOURCE_LANGUAGE], SOURCE_LANGUAGE)
        return self._languages

    def entries(self, lang: str) -> dict[tuple[str | None, str], str]:
        """(context, msgid) -> translation for `lang` (empty for English and for a language with no catalogue)."""
        table = self._read.get(lang)
        if table is None:
            with self._lock:
                table = self._read.get(lang)
                if table is None:
                    table = self._read[lang] = self._load(lang)
        return table

    def _load(self, lang: str) -> dict[tuple[str | None, str], str]:
        path = self.path(lang)
        if lang == SOURCE_LANGUAGE or not re.fullmatch(r"[A-Za-z]{2,3}(_[A-Za-z0-9]+)?", lang) or not path.is_file():
            return {}
        from babel.messages.pofile import read_po

        with path.open("rb") as handle:
            catalog = read_po(handle, locale=lang, domain=DOMAIN)
        return {
            (message.context, message.id): message.string
            for message in catalog
            if message.id and isinstance(message.id, str) and isinstance(message.string, str) and message.string
            and not message.fuzzy
        }


_catalogues = Catalogues()


def catalogues() -> Catalogues:
    """The catalogues this process reads (the package's own unless `use_catalogues` chose others)."""
    return _catalogues


def use_catalogues(found: Catalogues) -> Catalogues:
    """Read translations from `found` from now on (a deployment's own folder, or a test's); returns the previous."""
    global _catalogues
    previous, _catalogues = _catalogues, found
    return previous


def languages() -> tuple[str, ...]:
    """The languages the pages and reports can speak: one per catalogue, and English."""
    return _catalogues.languages()


def N_(text: str) -> str:
    """`text` unchanged: marks a sentence kept in a table for `pybabel extract`; `translate` it where it is shown."""
    return text


def translate(text: str, lang: str, **values: object) -> str:
    """`text` (an English msgid) in `lang`, English when no finished translation exists, with {values} filled in.

    Numbers (and any digits in the values) are shown in the reader's digits.
    """
    return _fill(_catalogues.entries(lang).get((None, text), text), lang, values)


def ptranslate(context: str, text: str, lang: str, **values: object) -> str:
    """`translate` for an English text that means different things in different places (gettext's msgctxt)."""
    return _fill(_catalogues.entries(lang).get((context, text), text), lang, values)


def _fill(text: str, lang: str, values: dict[str, object]) -> str:
    if not values:
        return text
    return text.format(**{key: digits(value, lang) for key, value in values.items()})


def fields(text: str) -> list[str]:
    """The {fields} of a sentence, sorted (a translation must keep the same ones)."""
    return sorted(_FIELD.findall(text))


def language_name(lang: str) -> str:
    """The language's own name for itself (`فارسی`, `English`, `Deutsch`), from Babel's locale data."""
    from babel import Locale, UnknownLocaleError

    try:
        name = Locale.parse(lang).get_display_name(lang)
    except (ValueError, UnknownLocaleError):
        return lang
    return name[:1].upper() + name[1:] if name else lang


def direction(lang: str) -> str:
    """`rtl` or `ltr` for the `dir` attribute (Babel's locale data for a language not in our own list)."""
    base = lang.replace("_", "-").split("-")[0]
    if base in RTL_LANGUAGES:
        return "rtl"
    from babel import Locale, UnknownLocaleError

    try:
        return "rtl" if Locale.parse(base).text_direction == "rtl" else "ltr"
    except (ValueError, UnknownLocaleError):
        return "ltr"


def digits(text: object, lang: str) -> str:
    """`text` with Persian digits when the reader reads Persian."""
    text = str(text)
    return to_persian(text) if lang == "fa" else text


def to_persian_digits(text: str) -> str:
    return to_persian(text)


def number(value: float | int | None, lang: str, places: int = 0) -> str:
    if value is None:
        return "–"
    text = f"{value:,.{places}f}"
    return to_persian_digits(text.replace(",", "٬").replace(".", "٫")) if lang == "fa" else text


def percent(share: float | None, lang: str) -> str:
    if share is None:
        return "–"
    text = f"{share * 100:.1f}"
    return to_persian_digits(text.replace(".", "٫")) + "٪" if lang == "fa" else text + "%"


def local_datetime(value: datetime | None, lang: str, zone: ZoneInfo, *, with_date: bool = True) -> str:
    """A stored UTC time in the centre's zone: Jalali with Persian digits for fa, ISO-like for en."""
    if value is None:
        return "–"
    local = value.astimezone(zone)
    if lang == "fa":
        import jdatetime

        jalali = jdatetime.datetime.fromgregorian(datetime=local.replace(tzinfo=None))
        text = jalali.strftime("%Y/%m/%d %H:%M" if with_date else "%H:%M")
        return to_persian_digits(text)
    return local.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M")


def local_date(value: date | None, lang: str) -> str:
    if value is None:
        return "–"
    if lang == "fa":
        import jdatetime

        return to_persian_digits(jdatetime.date.fromgregorian(date=value).strftime("%Y/%m/%d"))
    return value.isoformat()


def date_input_value(value: date | None, lang: str) -> str:
    """A date as the filter form shows it back: Jalali for fa, ISO for en (ASCII digits either way)."""
    if value is None:
        return ""
    if lang == "fa":
        import jdatetime

        return cast(str, jdatetime.date.fromgregorian(date=value).strftime("%Y/%m/%d"))  # jdatetime is untyped
    return value.isoformat()


def parse_date(text: str | None) -> date | None:
    """A date typed by a supervisor: 2026-11-22, or Solar Hijri 1405/09/01 (Persian or Arabic digits too).

    Years before 1700 are read as Solar Hijri: no callback predates the Gregorian 1700s, and no Jalali
    date reaches them before the year 2321.
    """
    if not text or not text.strip():
        return None
    cleaned = to_ascii(text.strip())
    match = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", cleaned)
    if not match:
        raise ValueError(f"{text!r} is not a date such as 2026-11-22 or 1405/09/01")
    year, month, day = (int(g) for g in match.groups())
    if year < 1700:
        import jdatetime

        return cast(date, jdatetime.date(year, month, day).togregorian())  # jdatetime is untyped
    return date(year, month, day)


def duration(seconds: float | None, lang: str) -> str:
    """Seconds as a short span: 45s, 12m, 3h 05m (Persian digits and units for fa)."""
    if seconds is None:
        return "–"
    seconds = round(seconds)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if lang == "fa":
        if hours:
            text = f"{hours} ساعت {minutes:02d} دقیقه"
        elif minutes:
            text = f"{minutes} دقیقه"
        else:
            text = f"{secs} ثانیه"
        return sign + to_persian_digits(text)
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m"
    return f"{sign}{secs}s"


# A callback's status and an alert's kind as supervisors read them (the stored names are the keys).
STATUS_LABELS = {
    "pending": N_("pending"),
    "dialing": N_("dialing"),
    "completed": N_("completed"),
    "unreachable": N_("unreachable"),
    "missed": N_("missed"),
    "canceled": N_("canceled"),
}
ALERT_LABELS = {
    "at_risk": N_("at risk"),
    "missed": N_("missed"),
    "digest": N_("digest"),
    "quote_over_sla": N_("quotes exceed the SLA"),
    "overloaded": N_("overloaded"),
    "unreachable": N_("unreachable"),
    "permanent": N_("cannot be called"),
    "stuck": N_("still open past its deadline"),
    "worker_clock": N_("worker clock wrong"),
    "dial_breaker": N_("dialling paused: hourly cap reached"),
}


def status_label(status: str, lang: str) -> str:
    return translate(STATUS_LABELS[status], lang) if status in STATUS_LABELS else status


def alert_label(kind: str, lang: str) -> str:
    return translate(ALERT_LABELS[kind], lang) if kind in ALERT_LABELS else kind


def queue_name(centre: object, queue_id: str, lang: str) -> str:
    queues = getattr(centre, "queues", {})
    queue = queues.get(queue_id)
    if queue is None:
        return queue_id
    return queue.name.get(lang) or queue.name.get("en") or queue_id


def strings(lang: str, texts: dict[str, str]) -> dict[str, str]:
    """Several texts at once, by the names a script knows them by (for the board's script)."""
    return {name: translate(text, lang) for name, text in texts.items()}
