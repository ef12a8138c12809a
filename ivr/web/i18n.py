"""The words of the public pages in Persian and English, and how times and digits are shown in each.

A tiny table instead of gettext catalogues: two languages, a few dozen sentences, and the contact centre's own
names (queues) come from its YAML. The language of a page is picked by `?lang=`, then the `lang` cookie, then the
browser's Accept-Language, then the centre's default; pages set `<html lang dir>` from `direction()`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jdatetime
from flask import Flask, Request, Response, current_app, g, request

from callbacks.i18n import digits, direction
from config.schema import ContactCentre, Queue
from ivr.runtime import runtime

LANGUAGE_COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
# Languages these pages speak; a centre may configure others for its phone prompts only.
PAGE_LANGUAGES = ("fa", "en")
LANGUAGE_NAMES = {"fa": "فارسی", "en": "English"}

_EN_MONTHS = ("January February March April May June July August September October November December").split()
_EN_WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()

# key -> {language: text}. Text may hold str.format fields; numbers passed in are shown in the page's digits.
MESSAGES: dict[str, dict[str, str]] = {
    # -- layout -------------------------------------------------------------------------------------------------
    "skip_to_content": {"en": "Skip to content", "fa": "رفتن به محتوا"},
    "language": {"en": "Language", "fa": "زبان"},
    # -- the request form ---------------------------------------------------------------------------------------
    "form_title": {"en": "Ask us to call you back", "fa": "درخواست تماس تلفنی"},
    "form_intro": {
        "en": "Leave your number and we will call you. You will get a reference and a link to follow your request.",
        "fa": "شمارهٔ خود را بگذارید تا با شما تماس بگیریم. یک کد پیگیری و یک پیوند برای دنبال کردن درخواست می‌گیرید.",
    },
    "phone_label": {"en": "Phone number", "fa": "شمارهٔ تلفن"},
    "phone_hint": {"en": "For example 0912 345 6789", "fa": "برای نمونه ۰۹۱۲ ۳۴۵ ۶۷۸۹"},
    "name_label": {"en": "Your name (optional)", "fa": "نام شما (اختیاری)"},
    "queue_label": {"en": "What is it about?", "fa": "موضوع تماس"},
    "window_legend": {"en": "Preferred time (optional)", "fa": "زمان دلخواه (اختیاری)"},
    "window_hint": {
        "en": "Times are in {zone} time. Leave empty to be called as soon as possible.",
        "fa": "ساعت‌ها به وقت {zone} است. اگر خالی بگذارید، در نخستین فرصت تماس می‌گیریم.",
    },
    "window_date_label": {"en": "Day", "fa": "روز"},
    "window_date_any": {"en": "As soon as possible", "fa": "در نخستین فرصت"},
    "window_from_label": {"en": "From", "fa": "از ساعت"},
    "window_to_label": {"en": "To", "fa": "تا ساعت"},
    "note_label": {"en": "Anything we should know? (optional)", "fa": "توضیح (اختیاری)"},
    "submit": {"en": "Call me back", "fa": "با من تماس بگیرید"},
    "form_has_errors": {
        "en": "Please correct the marked fields.",
        "fa": "لطفاً موارد مشخص‌شده را اصلاح کنید.",
    },
    "today": {"en": "today", "fa": "امروز"},
    "tomorrow": {"en": "tomorrow", "fa": "فردا"},
    "zone_Asia/Tehran": {"en": "Tehran", "fa": "تهران"},
    # -- answers ------------------------------------------------------------------------------------------------
    "created_title": {"en": "We will call you back", "fa": "با شما تماس می‌گیریم"},
    "promise": {"en": "We will call you before {when}.", "fa": "حداکثر تا {when} با شما تماس می‌گیریم."},
    "promise_window": {
        "en": "You asked to be called {window}.",
        "fa": "خواسته‌اید {window} با شما تماس بگیریم.",
    },
    "quote_heading": {"en": "If you ask now", "fa": "اگر همین حالا درخواست بدهید"},
    "quote_line": {"en": "{queue}: we will call you before {when}.", "fa": "{queue}: حداکثر تا {when} تماس می‌گیریم."},
    "quote_busy": {
        "en": "We are busier than usual: normally we call within {usual}.",
        "fa": "سرمان از همیشه شلوغ‌تر است؛ معمولاً ظرف {usual} تماس می‌گیریم.",
    },
    "quote_overloaded": {
        "en": "We are overloaded right now and cannot promise a time; we will do our best to call before {when}.",
        "fa": "در حال حاضر سرمان بسیار شلوغ است و نمی‌توانیم زمانی قول بدهیم؛ تلاش می‌کنیم تا {when} تماس بگیریم.",
    },
    "quote_window_offer": {
        "en": "If another time suits you better, choose your own time below: we keep the time you choose.",
        "fa": "اگر زمان دیگری برایتان بهتر است، آن را در پایین انتخاب کنید: به زمانی که انتخاب کنید پایبندیم.",
    },
    "promise_overloaded": {
        "en": "We are overloaded right now and cannot promise a time. We will do our best to call you before {when}.",
        "fa": "در حال حاضر سرمان بسیار شلوغ است و نمی‌توانیم زمانی قول بدهیم. تلاش می‌کنیم تا {when} با شما تماس بگیریم.",
    },
    "hours_minutes": {"en": "{hours} h {minutes} min", "fa": "{hours} ساعت و {minutes} دقیقه"},
    "minutes_only": {"en": "{minutes} minutes", "fa": "{minutes} دقیقه"},
    "hours_only": {"en": "{hours} hours", "fa": "{hours} ساعت"},
    "window_range": {"en": "between {start} and {end} on {day}", "fa": "{day} بین ساعت {start} تا {end}"},
    "reference": {"en": "Your reference", "fa": "کد پیگیری شما"},
    "status_link_intro": {
        "en": "Keep this link to see where your request stands or to cancel it:",
        "fa": "این پیوند را نگه دارید تا وضعیت درخواست را ببینید یا آن را لغو کنید:",
    },
    "status_link_private": {
        "en": "Anyone with the link can see and cancel this request, so share it with no one.",
        "fa": "هر کس این پیوند را داشته باشد می‌تواند درخواست را ببیند و لغو کند؛ آن را به کسی ندهید.",
    },
    "existing_title": {"en": "You already have a request", "fa": "درخواست شما از قبل ثبت شده است"},
    "existing_body": {
        "en": "This number already has an open callback request for this subject, so we did not add another.",
        "fa": "برای این شماره و این موضوع یک درخواست باز داریم، پس درخواست تازه‌ای ثبت نشد.",
    },
    "existing_link_hint": {
        "en": "Use the link you were given when you first asked to follow or cancel it.",
        "fa": "برای پیگیری یا لغو، از پیوندی که بار نخست دریافت کردید استفاده کنید.",
    },
    "another_request": {"en": "Make another request", "fa": "ثبت درخواست دیگر"},
    # -- status page --------------------------------------------------------------------------------------------
    "status_title": {"en": "Your callback request", "fa": "درخواست تماس شما"},
    "status_label": {"en": "Status", "fa": "وضعیت"},
    "status_pending": {"en": "Waiting", "fa": "در انتظار"},
    "status_pending_retry": {"en": "Waiting to try again", "fa": "در انتظار تماس دوباره"},
    "status_dialing": {"en": "We are calling you", "fa": "در حال تماس با شما"},
    "status_completed": {"en": "Done", "fa": "انجام شد"},
    "status_unreachable": {"en": "We could not reach you", "fa": "نتوانستیم با شما تماس بگیریم"},
    "status_missed": {"en": "Missed", "fa": "از دست رفت"},
    "status_canceled": {"en": "Canceled", "fa": "لغو شد"},
    "detail_pending": {"en": "We will call you before {when}.", "fa": "حداکثر تا {when} با شما تماس می‌گیریم."},
    "detail_pending_retry": {
        "en": "We have not reached you yet. We will try again before {when}.",
        "fa": "هنوز نتوانسته‌ایم با شما صحبت کنیم. پیش از {when} دوباره تماس می‌گیریم.",
    },
    "detail_dialing": {
        "en": "Your phone should ring now. Please answer it.",
        "fa": "تلفن شما هم‌اکنون باید زنگ بخورد؛ لطفاً پاسخ دهید.",
    },
    "detail_completed": {"en": "We talked with you. Thank you.", "fa": "با شما صحبت کردیم. سپاسگزاریم."},
    "detail_unreachable": {
        "en": "We tried {attempts} times and could not reach you. You can ask again at any time.",
        "fa": "{attempts} بار تماس گرفتیم و پاسخی نگرفتیم. هر زمان خواستید دوباره درخواست بدهید.",
    },
    "detail_missed": {
        "en": "We could not call you in time. We are sorry; a supervisor has been told.",
        "fa": "نتوانستیم به موقع تماس بگیریم. پوزش می‌خواهیم؛ به سرپرست گزارش شده است.",
    },
    "detail_canceled": {
        "en": "This request was canceled; we will not call.",
        "fa": "این درخواست لغو شد؛ تماس نمی‌گیریم.",
    },
    "deadline_label": {"en": "Promised by", "fa": "مهلت تماس"},
    "attempts_label": {"en": "Attempts so far", "fa": "تلاش‌ها تا کنون"},
    "phone_shown_label": {"en": "Number", "fa": "شماره"},
    "queue_shown_label": {"en": "Subject", "fa": "موضوع"},
    "requested_label": {"en": "Requested", "fa": "زمان درخواست"},
    "window_shown_label": {"en": "Preferred time", "fa": "زمان دلخواه"},
    "cancel_button": {"en": "Cancel this request", "fa": "لغو این درخواست"},
    "cancel_explain": {
        "en": "No longer need a call? Cancel it and we will not call you.",
        "fa": "دیگر نیازی به تماس ندارید؟ لغو کنید تا تماس نگیریم.",
    },
    "canceled_now": {"en": "Your request is canceled.", "fa": "درخواست شما لغو شد."},
    "cancel_too_late": {
        "en": "This request has already ended, so it cannot be canceled.",
        "fa": "این درخواست پیش‌تر پایان یافته و لغو‌شدنی نیست.",
    },
    "cancel_busy": {
        "en": "We are updating this request right now; please try again in a moment.",
        "fa": "این درخواست در حال به‌روزرسانی است؛ لطفاً چند لحظه دیگر دوباره تلاش کنید.",
    },
    # -- error pages --------------------------------------------------------------------------------------------
    "not_found_title": {"en": "We cannot find this request", "fa": "این درخواست پیدا نشد"},
    "not_found_body": {
        "en": "The link may be incomplete. Check that you copied all of it, or make a new request.",
        "fa": "شاید پیوند کامل نیست. بررسی کنید همهٔ آن را رونوشت کرده‌اید، یا درخواست تازه‌ای ثبت کنید.",
    },
    "unavailable_title": {"en": "Please try again in a moment", "fa": "لطفاً چند لحظه دیگر دوباره تلاش کنید"},
    "unavailable_body": {
        "en": "We cannot take requests right now. Nothing was saved, so please send it again shortly.",
        "fa": "هم‌اکنون نمی‌توانیم درخواستی ثبت کنیم. چیزی ذخیره نشد؛ لطفاً کمی بعد دوباره بفرستید.",
    },
    "rate_limited_title": {"en": "Too many requests", "fa": "درخواست‌ها بیش از حد است"},
    "rate_limited_body": {
        "en": "Too many requests came from your connection. Please try again in {minutes} minutes.",
        "fa": "درخواست‌های زیادی از اتصال شما رسیده است. لطفاً {minutes} دقیقهٔ دیگر دوباره تلاش کنید.",
    },
    "csrf_failed": {
        "en": "This form had expired, so nothing was sent. Please check it and send it again.",
        "fa": "مهلت این فرم تمام شده بود و چیزی فرستاده نشد. لطفاً آن را بررسی کنید و دوباره بفرستید.",
    },
    "csrf_failed_action": {
        "en": "This page had expired, so nothing was changed. Please try again.",
        "fa": "مهلت این صفحه تمام شده بود و تغییری داده نشد. لطفاً دوباره تلاش کنید.",
    },
    "back_to_form": {"en": "Back to the callback form", "fa": "بازگشت به فرم درخواست تماس"},
    # -- the site's own error pages (ivr.web.errors) ------------------------------------------------------------
    "page_not_found_title": {"en": "Page not found", "fa": "صفحه پیدا نشد"},
    "page_not_found_body": {
        "en": "There is no page at this address. Check the link, or ask us to call you back from the form.",
        "fa": "در این نشانی صفحه‌ای نیست. پیوند را بررسی کنید، یا از فرم درخواست تماس کنید.",
    },
    "method_not_allowed_title": {"en": "This cannot be done here", "fa": "این کار در این صفحه ممکن نیست"},
    "method_not_allowed_body": {
        "en": "This page does not accept that kind of request. Go back and use the page's own buttons.",
        "fa": "این صفحه چنین درخواستی را نمی‌پذیرد. بازگردید و از دکمه‌های خود صفحه استفاده کنید.",
    },
    "server_error_title": {"en": "Something went wrong on our side", "fa": "مشکلی از سوی ما پیش آمد"},
    "server_error_body": {
        "en": "It was not your doing, and we have been told. Please try again in a moment.",
        "fa": "این مشکل از شما نبود و به ما گزارش شد. لطفاً چند لحظه دیگر دوباره تلاش کنید.",
    },
}

# Field errors by the service's (or the form's) stable code. An unknown code falls back to the service's message.
ERRORS: dict[str, dict[str, str]] = {
    "invalid_text": {
        "en": "The field '{field}' contains a character that cannot be stored (NUL or a broken character). "
              "Nothing was saved.",
        "fa": "فیلد «{field}» نویسه‌ای دارد که نمی‌توان ذخیره کرد (NUL یا نویسهٔ ناقص). چیزی ذخیره نشد.",
    },
    "phone_missing": {"en": "Please enter your phone number.", "fa": "لطفاً شمارهٔ تلفن خود را وارد کنید."},
    "phone_not_text": {"en": "Please enter your phone number.", "fa": "لطفاً شمارهٔ تلفن خود را وارد کنید."},
    "phone_too_long": {"en": "This phone number is too long.", "fa": "این شمارهٔ تلفن بیش از حد طولانی است."},
    "phone_invalid_characters": {
        "en": "Use only digits, spaces and + - ( ) in the phone number.",
        "fa": "در شمارهٔ تلفن فقط رقم، فاصله و + - ( ) بنویسید.",
    },
    "phone_unparseable": {
        "en": "This does not look like a phone number.",
        "fa": "این به شمارهٔ تلفن شبیه نیست.",
    },
    "phone_invalid": {
        "en": "This phone number does not exist. Check the digits.",
        "fa": "این شمارهٔ تلفن معتبر نیست. رقم‌ها را بررسی کنید.",
    },
    "phone_country_not_allowed": {
        "en": "We can only call numbers in {countries}.",
        "fa": "فقط با شماره‌های {countries} می‌توانیم تماس بگیریم.",
    },
    "phone_premium_rate": {
        "en": "We cannot call premium-rate numbers.",
        "fa": "با شماره‌های با هزینهٔ ویژه (پولی) نمی‌توانیم تماس بگیریم.",
    },
    "phone_shared_cost": {
        "en": "We cannot call shared-cost numbers.",
        "fa": "با شماره‌های با هزینهٔ اشتراکی نمی‌توانیم تماس بگیریم.",
    },
    "phone_unknown_type": {
        "en": "We cannot tell what kind of number this is, so we cannot call it.",
        "fa": "نوع این شماره مشخص نیست، پس نمی‌توانیم با آن تماس بگیریم.",
    },
    "phone_type_not_allowed": {
        "en": "We can call only mobile and landline numbers.",
        "fa": "فقط با تلفن همراه و تلفن ثابت می‌توانیم تماس بگیریم.",
    },
    "phone_denied": {"en": "We cannot call this number.", "fa": "با این شماره نمی‌توانیم تماس بگیریم."},
    "rate_limited_phone": {
        "en": "This number has asked for too many callbacks. Please try again in {minutes} minutes.",
        "fa": "برای این شماره درخواست‌های زیادی ثبت شده است. لطفاً {minutes} دقیقهٔ دیگر دوباره تلاش کنید.",
    },
    "unknown_queue": {"en": "Please choose a subject from the list.", "fa": "لطفاً یک موضوع از فهرست انتخاب کنید."},
    "unknown_language": {"en": "Please choose a language from the list.", "fa": "لطفاً یک زبان از فهرست انتخاب کنید."},
    "name_too_long": {
        "en": "Please shorten the name to {limit} characters.",
        "fa": "لطفاً نام را به {limit} نویسه کوتاه کنید.",
    },
    "note_too_long": {
        "en": "Please shorten the note to {limit} characters.",
        "fa": "لطفاً توضیح را به {limit} نویسه کوتاه کنید.",
    },
    "day_invalid": {"en": "Please choose a day from the list.", "fa": "لطفاً یک روز از فهرست انتخاب کنید."},
    "day_missing": {
        "en": "Please choose a day for these times.",
        "fa": "لطفاً روزِ این ساعت‌ها را انتخاب کنید.",
    },
    "time_missing": {"en": "Please give a time.", "fa": "لطفاً ساعت را وارد کنید."},
    "time_invalid": {"en": "Please give a time such as 14:30.", "fa": "لطفاً ساعت را مانند ۱۴:۳۰ وارد کنید."},
    "window_incomplete": {"en": "Please give an end time.", "fa": "لطفاً ساعت پایان را وارد کنید."},
    "window_inverted": {
        "en": "The end time must be after the start time.",
        "fa": "ساعت پایان باید پس از ساعت شروع باشد.",
    },
    "window_past": {"en": "This time has already passed.", "fa": "این زمان گذشته است."},
    "window_too_far": {
        "en": "We can book calls at most {days} days ahead.",
        "fa": "حداکثر تا {days} روز آینده می‌توان زمان تماس گذاشت.",
    },
    "window_too_short": {
        "en": "Please leave at least {minutes} minutes for the call.",
        "fa": "لطفاً دست‌کم {minutes} دقیقه برای تماس در نظر بگیرید.",
    },
    "window_closed": {
        "en": "We are closed then, so nobody could call you. The nearest time we can call is {suggestion}.",
        "fa": "در این زمان تعطیل هستیم و کسی نمی‌تواند با شما تماس بگیرد. نزدیک‌ترین زمان ممکن {suggestion} است.",
    },
    "window_unavailable": {
        "en": "We are too busy to call you in this window. The earliest we can promise is {earliest}; "
              "please choose a window that ends later.",
        "fa": "در این بازه سرمان شلوغ است و نمی‌توانیم تماس بگیریم. زودترین زمانی که می‌توانیم قول بدهیم "
              "{earliest} است؛ لطفاً بازه‌ای انتخاب کنید که دیرتر تمام شود.",
    },
}

COUNTRY_NAMES: dict[str, dict[str, str]] = {
    "IR": {"en": "Iran", "fa": "ایران"},
    "GB": {"en": "the United Kingdom", "fa": "بریتانیا"},
    "US": {"en": "the United States", "fa": "ایالات متحده"},
    "DE": {"en": "Germany", "fa": "آلمان"},
    "TR": {"en": "Turkey", "fa": "ترکیه"},
    "AE": {"en": "the United Arab Emirates", "fa": "امارات"},
}


def page_languages(centre: ContactCentre) -> list[str]:
    """The centre's languages that the pages can speak, in the centre's order (English as a last resort)."""
    langs = [lang for lang in centre.languages if lang in PAGE_LANGUAGES]
    return langs or ["en"]


def pick_language(req: Request, allowed: list[str] | tuple[str, ...], *, preferred: str | None = None,
                  default: str | None = None) -> str:
    """The one language picker of every page: `?lang=` (a switch), then the cookie it sets, then the reader's
    own choice (a supervisor's account), then Accept-Language, then `default`, then the first allowed."""
    for candidate in (req.args.get("lang"), req.cookies.get(LANGUAGE_COOKIE), preferred):
        if candidate in allowed:
            return candidate
    best = req.accept_languages.best_match(allowed)
    if best:
        return best
    return default if default in allowed else allowed[0]


def current_language() -> str:
    """The language of this request's page (picked once per request)."""
    if "page_lang" not in g:
        centre = runtime().centre
        g.page_lang = pick_language(request, page_languages(centre), default=centre.default_language)
    return g.page_lang


def gettext(key: str, lang: str, **params: Any) -> str:
    """The sentence `key` in `lang` (English when missing), with numbers in `params` in the page's digits."""
    table = MESSAGES.get(key) or ERRORS.get(key)
    if table is None:
        raise KeyError(f"no text for {key!r}")
    text = table.get(lang) or table["en"]
    if params:
        text = text.format(**{k: digits(v, lang) if isinstance(v, int) else v for k, v in params.items()})
    return text


def error_message(code: str, lang: str, fallback: str, **params: Any) -> str:
    """A field error in `lang` for the stable `code`; the service's own message when the code is new to us."""
    if code not in ERRORS:
        return fallback
    return gettext(code, lang, **params)


def country_names(codes: list[str], lang: str) -> str:
    names = [COUNTRY_NAMES.get(c, {}).get(lang, c) for c in codes]
    return (" و " if lang == "fa" else ", ").join(names)


def queue_name(queue: Queue, queue_id: str, lang: str) -> str:
    """The queue's name from the YAML in `lang`, else in English, else its id."""
    return queue.name.get(lang) or queue.name.get("en") or queue_id


def zone_name(zone: ZoneInfo, lang: str) -> str:
    key = f"zone_{zone.key}"
    return gettext(key, lang) if key in MESSAGES else zone.key


def format_clock(moment: datetime, lang: str) -> str:
    """`14:30`, in Persian digits for Persian."""
    return digits(moment.strftime("%H:%M"), lang)


def format_day(day: date, lang: str, today: date | None = None) -> str:
    """`Thursday 26 November` (Gregorian) or `پنج‌شنبه ۵ آذر` (Solar Hijri); the year only when not this year's."""
    if lang == "fa":
        jday = jdatetime.date.fromgregorian(date=day, locale="fa_IR")
        text = f"{jday.strftime('%A')} {jday.day} {jday.strftime('%B')}"
        if today is None or jdatetime.date.fromgregorian(date=today).year != jday.year:
            text += f" {jday.year}"
        return digits(text, lang)
    text = f"{_EN_WEEKDAYS[day.weekday()]} {day.day} {_EN_MONTHS[day.month - 1]}"
    if today is None or today.year != day.year:
        text += f" {day.year}"
    return text


def relative_day(day: date, lang: str, today: date) -> str:
    """`today`, `tomorrow`, or the day's name and date."""
    if day == today:
        return gettext("today", lang)
    if day == today + timedelta(days=1):
        return gettext("tomorrow", lang)
    return format_day(day, lang, today)


def format_when(moment: datetime, lang: str, zone: ZoneInfo, now: datetime) -> str:
    """A moment as a customer reads it in the centre's zone: `10:00 on Thursday 26 November` / `ساعت ۱۰:۰۰ امروز`."""
    local = moment.astimezone(zone)
    today = now.astimezone(zone).date()
    day = relative_day(local.date(), lang, today)
    if lang == "fa":
        return f"ساعت {format_clock(local, lang)} {day}"
    if local.date() in (today, today + timedelta(days=1)):
        return f"{format_clock(local, lang)} {day}"
    return f"{format_clock(local, lang)} on {day}"


def format_window(start: datetime, end: datetime, lang: str, zone: ZoneInfo, now: datetime) -> str:
    """`between 14:00 and 16:00 on today` style text for a customer's window."""
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    day = relative_day(local_start.date(), lang, now.astimezone(zone).date())
    return gettext(
        "window_range", lang, start=format_clock(local_start, lang), end=format_clock(local_end, lang), day=day
    )


def _remember_language(response: Response) -> Response:
    """A `?lang=` choice sticks: later pages (and the form's POST) come in the same language."""
    chosen = request.args.get("lang")
    # Another area (the supervisor console) may already have set the same cookie on this response.
    already_set = any(h.startswith(f"{LANGUAGE_COOKIE}=") for h in response.headers.getlist("Set-Cookie"))
    if (
        "page_lang" in g
        and chosen == g.page_lang
        and request.cookies.get(LANGUAGE_COOKIE) != chosen
        and not already_set
    ):
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
    """What every page template may use: `lang`, `text_dir`, `_()`, `digits()` and the language switcher."""
    lang = current_language()
    centre = runtime().centre
    return {
        "lang": lang,
        "text_dir": direction(lang),
        "_": lambda key, **params: gettext(key, lang, **params),
        "digits": lambda text: digits(text, lang),
        "other_languages": [(code, LANGUAGE_NAMES.get(code, code)) for code in page_languages(centre) if code != lang],
        "centre_name": centre.name,
    }


def init_app(app: Flask) -> None:
    """Register the template helpers and the language cookie for every HTML page (the API never picks one)."""
    app.context_processor(template_helpers)
    app.after_request(_remember_language)
