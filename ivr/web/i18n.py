"""How the public pages pick their language, and show times, days and digits in it.

The words themselves are gettext catalogues read by `callbacks.i18n.translate` (English msgids; one `.po` file per
other language): templates call `_()` and `pgettext()`, Python calls `translate()`. The language of a page, public
or the supervisors' console, is picked here once per request: `?lang=` (which sets the `lang` cookie), then the
cookie, then the reader's own choice (a supervisor's account), then the browser's Accept-Language, then the
centre's default; pages set `<html lang dir>` from it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask import Flask, Request, Response, current_app, g, request

from callbacks.i18n import (
    N_,
    SOURCE_LANGUAGE,
    digits,
    direction,
    language_name,
    languages,
    ptranslate,
    translate,
)
from config.schema import ContactCentre, Queue
from ivr.runtime import runtime
from ivr.web.current import current_request

if TYPE_CHECKING:
    from babel import Locale

LANGUAGE_COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600


# Field errors by the service's (or the form's) stable code. An unknown code falls back to the service's message.
FIELD_ERRORS: dict[str, str] = {
    "invalid_text": N_("The field '{field}' contains a character that cannot be stored (NUL or a broken character). "
                       "Nothing was saved."),
    "phone_missing": N_("Please enter your phone number."),
    "phone_not_text": N_("Please enter your phone number."),
    "phone_too_long": N_("This phone number is too long."),
    "phone_invalid_characters": N_("Use only digits, spaces and + - ( ) in the phone number."),
    "phone_unparseable": N_("This does not look like a phone number."),
    "phone_invalid": N_("This phone number does not exist. Check the digits."),
    "phone_country_not_allowed": N_("We can only call numbers in {countries}."),
    "phone_premium_rate": N_("We cannot call premium-rate numbers."),
    "phone_shared_cost": N_("We cannot call shared-cost numbers."),
    "phone_unknown_type": N_("We cannot tell what kind of number this is, so we cannot call it."),
    "phone_type_not_allowed": N_("We can call only mobile and landline numbers."),
    "phone_denied": N_("We cannot call this number."),
    "rate_limited_phone": N_("This number has asked for too many callbacks. Please try again in {minutes} minutes."),
    "unknown_queue": N_("Please choose a subject from the list."),
    "unknown_language": N_("Please choose a language from the list."),
    "name_too_long": N_("Please shorten the name to {limit} characters."),
    "note_too_long": N_("Please shorten the note to {limit} characters."),
    "day_invalid": N_("Please choose a day from the list."),
    "day_missing": N_("Please choose a day for these times."),
    "time_missing": N_("Please give a time."),
    "time_invalid": N_("Please give a time such as 14:30."),
    "window_incomplete": N_("Please give an end time."),
    "window_inverted": N_("The end time must be after the start time."),
    "window_past": N_("This time has already passed."),
    "window_too_far": N_("We can book calls at most {days} days ahead."),
    "window_too_short": N_("Please leave at least {minutes} minutes for the call."),
    "window_closed": N_("We are closed then, so nobody could call you. The nearest time we can call is {suggestion}."),
    "do_not_call": N_("This number asked never to be called by us, so we cannot call it. Its owner can opt back in "
                      "by calling us and pressing 1 when asked."),
    "too_many_codes": N_("We have sent this number too many codes. Please try again in {minutes} minutes."),
    "code_wrong": N_("That code is not right. You have {tries} more tries."),
    "code_missing": N_("Please enter the code we sent you."),
    "code_expired": N_("This code has expired. Please ask for a new one."),
    "code_used": N_("This code was already used. Please ask for a new one."),
    "code_spent": N_("Too many wrong codes. Please ask for a new one."),
    "code_unknown": N_("We do not know this code request. Please ask for a new code."),
    "window_unavailable": N_("We are too busy to call you in this window. The earliest we can promise is "
                             "{earliest}; please choose a window that ends later."),
}

COUNTRY_NAMES: dict[str, str] = {
    "IR": N_("Iran"),
    "GB": N_("the United Kingdom"),
    "US": N_("the United States"),
    "DE": N_("Germany"),
    "TR": N_("Turkey"),
    "AE": N_("the United Arab Emirates"),
}

ZONE_NAMES: dict[str, str] = {"Asia/Tehran": N_("Tehran")}


def page_languages(centre: ContactCentre) -> list[str]:
    """The centre's languages that the pages can speak (English, and every language with a catalogue), in the
    centre's order (English as a last resort)."""
    spoken = languages()
    langs = [lang for lang in centre.languages if lang in spoken]
    return langs or [SOURCE_LANGUAGE]


def pick_language(req: Request, allowed: list[str] | tuple[str, ...], *, preferred: str | None = None,
                  default: str | None = None) -> str:
    """The one language picker of every page: `?lang=` (a switch), then the cookie it sets, then the reader's
    own choice (a supervisor's account), then Accept-Language, then `default`, then the first allowed."""
    for candidate in (req.args.get("lang"), req.cookies.get(LANGUAGE_COOKIE), preferred):
        if candidate is not None and candidate in allowed:
            return candidate
    best = req.accept_languages.best_match(allowed)
    if best:
        return best
    return default if default is not None and default in allowed else allowed[0]


def current_language() -> str:
    """The language of this request's page (picked once per request; an area with its own rules, the console,
    picks it first with `use_language`)."""
    if "page_lang" not in g:
        centre = runtime().centre
        g.page_lang = pick_language(request, page_languages(centre), default=centre.default_language)
    return str(g.page_lang)


def use_language(lang: str) -> str:
    """Make `lang` this request's language (what `<html lang>`, `_()` and the cookie follow); returns it."""
    g.page_lang = lang
    return lang


def error_message(code: str, lang: str, fallback: str, **params: Any) -> str:
    """A field error in `lang` for the stable `code`; the service's own message when the code is new to us."""
    if code not in FIELD_ERRORS:
        return fallback
    return translate(FIELD_ERRORS[code], lang, **params)


def country_names(codes: list[str], lang: str) -> str:
    names = [translate(COUNTRY_NAMES[c], lang) if c in COUNTRY_NAMES else c for c in codes]
    # TRANSLATORS: what stands between the names of countries in a list ("Iran, Turkey").
    return translate(", ", lang).join(names)


def queue_name(queue: Queue, queue_id: str, lang: str) -> str:
    """The queue's name from the YAML in `lang`, else in English, else its id."""
    return queue.name.get(lang) or queue.name.get("en") or queue_id


def zone_name(zone: ZoneInfo, lang: str) -> str:
    return translate(ZONE_NAMES[zone.key], lang) if zone.key in ZONE_NAMES else zone.key


def _locale(lang: str) -> Locale:
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(lang)
    except (ValueError, UnknownLocaleError):
        return Locale.parse(SOURCE_LANGUAGE)


def format_clock(moment: datetime, lang: str) -> str:
    """`14:30`, in Persian digits for Persian."""
    return digits(moment.strftime("%H:%M"), lang)


def format_day(day: date, lang: str, today: date | None = None) -> str:
    """`Thursday 26 November` (Gregorian) or `پنج‌شنبه ۵ آذر` (Solar Hijri); the year only when not this year's."""
    if lang == "fa":
        import jdatetime

        jday = jdatetime.date.fromgregorian(date=day, locale="fa_IR")
        text = f"{jday.strftime('%A')} {jday.day} {jday.strftime('%B')}"
        if today is None or jdatetime.date.fromgregorian(date=today).year != jday.year:
            text += f" {jday.year}"
        return digits(text, lang)
    # Other languages: the Gregorian calendar in the language's own words (Babel's locale data).
    from babel.dates import format_date

    pattern = "EEEE d MMMM" if today is not None and today.year == day.year else "EEEE d MMMM y"
    return format_date(day, pattern, locale=_locale(lang))


def relative_day(day: date, lang: str, today: date) -> str:
    """`today`, `tomorrow`, or the day's name and date."""
    if day == today:
        return translate("today", lang)
    if day == today + timedelta(days=1):
        return translate("tomorrow", lang)
    return format_day(day, lang, today)


def format_when(moment: datetime, lang: str, zone: ZoneInfo, now: datetime) -> str:
    """A moment as a customer reads it in the centre's zone: `10:00 on Thursday 26 November` / `ساعت ۱۰:۰۰ امروز`."""
    local = moment.astimezone(zone)
    today = now.astimezone(zone).date()
    day = relative_day(local.date(), lang, today)
    clock = format_clock(local, lang)
    if local.date() in (today, today + timedelta(days=1)):
        return ptranslate("today or tomorrow", "{time} {day}", lang, time=clock, day=day)
    return translate("{time} on {day}", lang, time=clock, day=day)


def format_window(start: datetime, end: datetime, lang: str, zone: ZoneInfo, now: datetime) -> str:
    """`between 14:00 and 16:00 on today` style text for a customer's window."""
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    day = relative_day(local_start.date(), lang, now.astimezone(zone).date())
    return translate("between {start} and {end} on {day}", lang, start=format_clock(local_start, lang),
                     end=format_clock(local_end, lang), day=day)


def _remember_language(response: Response) -> Response:
    """A `?lang=` choice sticks: later pages (and the form's POST) come in the same language."""
    args = current_request().args
    if "lang" not in args:  # almost every request (every webhook): nothing to remember, and no `get` to miss
        return response
    chosen = args.get("lang")
    if chosen is not None and chosen == g.get("page_lang") and request.cookies.get(LANGUAGE_COOKIE) != chosen:
        response.set_cookie(
            LANGUAGE_COOKIE,
            chosen,
            max_age=COOKIE_MAX_AGE,
            samesite="Lax",
            httponly=True,
            secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
        )
    return response


def template_helpers() -> dict[str, Any]:
    """What every page template may use: `lang`, `text_dir`, `_()`, `pgettext()`, `digits()` and the language
    switcher (each other language named in itself)."""
    lang = current_language()
    centre = runtime().centre
    return {
        "lang": lang,
        "text_dir": direction(lang),
        "_": lambda text, **values: translate(text, lang, **values),
        "pgettext": lambda context, text, **values: ptranslate(context, text, lang, **values),
        "digits": lambda text: digits(text, lang),
        "other_languages": [(code, language_name(code)) for code in page_languages(centre) if code != lang],
        "centre_name": centre.name,
    }


def init_app(app: Flask) -> None:
    """Register the template helpers and the language cookie for every HTML page (the API never picks one)."""
    app.context_processor(template_helpers)
    app.after_request(_remember_language)
