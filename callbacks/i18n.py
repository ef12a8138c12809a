"""Words of the supervisors' console and reports in Persian and English, and numbers and dates as each reader expects
them (no web framework here: the worker's digest uses it too).

Persian readers see Solar Hijri (Jalali) dates with Persian digits; both see times in the centre's timezone.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import jdatetime

from callbacks.digits import to_ascii, to_persian

LANGUAGES = ("fa", "en")
RTL_LANGUAGES = frozenset({"fa", "ar", "he", "ur", "ps", "ckb"})

# key: (English, Persian)
_STRINGS: dict[str, tuple[str, str]] = {
    "console": ("Supervisor console", "پیشخوان سرپرست"),
    "board": ("Live board", "تابلوی زنده"),
    "missed_report": ("Missed callbacks", "تماس‌های برگشتی ازدست‌رفته"),
    "sla": ("Service levels", "سطح خدمات"),
    "log_in": ("Log in", "ورود"),
    "log_out": ("Log out", "خروج"),
    "email": ("E-mail", "ایمیل"),
    "password": ("Password", "گذرواژه"),
    "report_date_out_of_range": (
        "{name}: {day} is not between {first} and {last}.",
        "{name}: {day} بین {first} و {last} نیست.",
    ),
    "login_failed": ("The e-mail or password is wrong.", "ایمیل یا گذرواژه نادرست است."),
    "login_locked": (
        "The e-mail or password is wrong, too many times from here. Try again after {time}.",
        "ایمیل یا گذرواژه بارها از اینجا نادرست وارد شده است. پس از {time} دوباره امتحان کنید.",
    ),
    "csrf_failed": (
        "The form expired or was not sent from this site. Please try again.",
        "فرم منقضی شده یا از این سایت ارسال نشده است. لطفاً دوباره تلاش کنید.",
    ),
    "viewer_badge": ("read-only", "فقط خواندنی"),
    "language": ("Language", "زبان"),
    "pending": ("Waiting for a callback", "در انتظار تماس برگشتی"),
    "at_risk": ("At risk", "در خطر"),
    "in_progress": ("Calls in progress", "تماس‌های در جریان"),
    "agents": ("Agents", "کارشناسان"),
    "alerts": ("Alerts", "هشدارها"),
    "reference": ("Reference", "کد پیگیری"),
    "queue": ("Queue", "صف"),
    "phone": ("Phone", "تلفن"),
    "name": ("Name", "نام"),
    "status": ("Status", "وضعیت"),
    "requested": ("Requested", "زمان درخواست"),
    "promised_by": ("Promised by", "مهلت"),
    "time_left": ("Time left", "زمان باقی‌مانده"),
    "overdue": ("overdue", "گذشته از مهلت"),
    "attempts": ("Attempts", "تلاش‌ها"),
    "reason": ("Reason", "علت"),
    "none_waiting": ("Nobody is waiting for a callback.", "کسی در انتظار تماس برگشتی نیست."),
    "no_calls": ("No calls right now.", "اکنون تماسی در جریان نیست."),
    "no_agents": ("No agents yet. Add one with: ivr agent add NAME PHONE", "هنوز کارشناسی نیست."),
    "no_alerts": ("No open alerts.", "هشدار بازی نیست."),
    "free": ("free", "آزاد"),
    "busy": ("on a call", "در تماس"),
    "wrap_up": ("wrapping up", "در حال جمع‌بندی"),
    "off_shift": ("off shift", "خارج از شیفت"),
    "put_on_shift": ("Put on shift", "ورود به شیفت"),
    "take_off_shift": ("Take off shift", "خروج از شیفت"),
    "acknowledge": ("Acknowledge", "تأیید دیدن"),
    "updated": ("Updated", "به‌روزرسانی"),
    "update_failed": ("Cannot reach the server; retrying…", "ارتباط با سرور برقرار نیست؛ تلاش دوباره…"),
    "shown_of": ("{shown} of {total} shown", "{shown} از {total} نمایش داده شده"),
    "callback": ("Callback", "تماس برگشتی"),
    "inbound": ("Inbound", "ورودی"),
    "outbound": ("Callback call", "تماس برگشتی"),
    "agent": ("Agent", "کارشناس"),
    "since": ("Since", "از"),
    "until": ("Until", "تا"),
    "from_date": ("From (date)", "از تاریخ"),
    "to_date": ("To (date, inclusive)", "تا تاریخ (شامل)"),
    "date_hint": ("YYYY-MM-DD", "مثلاً ۱۴۰۵/۰۹/۰۱"),
    "any": ("any", "همه"),
    "filter": ("Filter", "اعمال فیلتر"),
    "download_csv": ("Download CSV", "دریافت CSV"),
    "json_api": ("JSON: GET /api/v1/reports/missed (API key)", "JSON: GET /api/v1/reports/missed (کلید API)"),
    "missed_count": ("{count} missed callbacks", "{count} تماس برگشتی ازدست‌رفته"),
    "missed_at": ("Missed at", "زمان ازدست‌رفتن"),
    "deadline": ("Deadline", "مهلت"),
    "by_reason": ("By reason", "بر اساس علت"),
    "history": ("History", "تاریخچه"),
    "events": ("Events", "رویدادها"),
    "at": ("At", "زمان"),
    "kind": ("Kind", "نوع"),
    "from_to": ("Change", "تغییر"),
    "actor": ("By", "توسط"),
    "number": ("No.", "شماره"),
    "state": ("State", "حالت"),
    "outcome": ("Outcome", "نتیجه"),
    "talk": ("Talk", "مکالمه"),
    "error": ("Error", "خطا"),
    "no_attempts": ("No attempts yet.", "هنوز تلاشی انجام نشده است."),
    "back_to_report": ("Back to the report", "بازگشت به گزارش"),
    "deadline_kept": ("Callbacks kept", "تماس‌های برگشتی به‌موقع"),
    "kept_share": ("Kept", "به‌موقع"),
    "unreachable_share": ("Unreachable", "دسترسی‌ناپذیر"),
    "missed_share": ("Missed", "ازدست‌رفته"),
    "median_wait": ("Median to conversation", "میانه تا گفتگو"),
    "p90_wait": ("90th percentile", "صدک ۹۰"),
    "attempts_per_callback": ("Attempts per callback", "تلاش به ازای هر تماس"),
    "day": ("Day", "روز"),
    "requested_count": ("Requested", "درخواست‌شده"),
    "completed": ("Completed", "انجام‌شده"),
    "total": ("All", "همه"),
    "funnel": ("Phone tree", "منوی تلفنی"),
    "calls": ("Calls", "تماس‌ها"),
    "reached_person": ("Reached a person", "به کارشناس رسیدند"),
    "left_callback": ("Left a callback request", "درخواست تماس برگشتی دادند"),
    "left_without_help": ("Left without help", "بدون کمک رفتند"),
    "pressed_zero": ("Pressed 0 at least once", "دست‌کم یک بار ۰ را زدند"),
    "zero_presses": ("Presses of 0", "دفعات زدن ۰"),
    "where_callers_leave": ("Where callers leave", "جایی که تماس‌گیرندگان می‌روند"),
    "node": ("Menu", "منو"),
    "visits": ("Callers", "تماس‌گیرندگان"),
    "left_here": ("Left here", "همین‌جا رفتند"),
    "loss_rate": ("Loss", "ریزش"),
    "no_data": ("No data for this period.", "برای این بازه داده‌ای نیست."),
    "kept_chart": ("Share kept per day", "سهم به‌موقع در هر روز"),
    "definitions": (
        "Kept = completed ÷ (completed + unreachable + missed); canceled and still open callbacks are not counted.",
        "به‌موقع = انجام‌شده ÷ (انجام‌شده + دسترسی‌ناپذیر + ازدست‌رفته)؛ لغوشده‌ها و بازها شمرده نمی‌شوند.",
    ),
    "forbidden": ("Your role may look but not change.", "نقش شما فقط اجازهٔ دیدن دارد."),
    "st_pending": ("pending", "در انتظار"),
    "st_dialing": ("dialing", "در حال شماره‌گیری"),
    "st_completed": ("completed", "انجام‌شده"),
    "st_unreachable": ("unreachable", "دسترسی‌ناپذیر"),
    "st_missed": ("missed", "ازدست‌رفته"),
    "st_canceled": ("canceled", "لغوشده"),
    "alert_at_risk": ("at risk", "در خطر"),
    "alert_missed": ("missed", "ازدست‌رفته"),
    "alert_digest": ("digest", "خلاصه"),
    "forecast": ("Promises and capacity", "قول‌ها و ظرفیت"),
    "quote_now": ("Promised now", "قول اکنون"),
    "sla_now": ("SLA", "تعهد سطح خدمات"),
    "beyond_sla": ("Beyond the SLA", "بیش از تعهد"),
    "misses_today": ("Forecast misses today", "پیش‌بینی ازدست‌رفته تا پایان روز"),
    "at_sla": ("at the SLA", "مطابق تعهد"),
    "overloaded_quote": ("overloaded", "بیش از ظرفیت"),
    "advice_more": (
        "{agents} more agents until {time} would keep every promise.",
        "{agents} کارشناس بیشتر تا ساعت {time} همهٔ قول‌ها را نگه می‌دارد.",
    ),
    "advice_enough": ("The agents on shift keep every promise.", "کارشناسان حاضر همهٔ قول‌ها را نگه می‌دارند."),
    "advice_hopeless": (
        "{count} promises cannot be kept whatever the staffing.",
        "{count} قول با هیچ تعداد کارشناسی نگه داشته نمی‌شود.",
    ),
    "expected_late": (
        "With the agents on shift, about {count} requests expected today would be promised later than the SLA.",
        "با کارشناسان حاضر، حدود {count} درخواستِ امروز دیرتر از تعهد قول داده می‌شوند.",
    ),
    "alert_quote_over_sla": ("quotes exceed the SLA", "قول‌ها بیش از تعهد"),
    "alert_overloaded": ("overloaded", "بیش از ظرفیت"),
    "alert_unreachable": ("unreachable", "دسترسی‌ناپذیر"),
    "alert_permanent": ("cannot be called", "شماره قابل تماس نیست"),
    "alert_stuck": ("still open past its deadline", "پس از مهلت هنوز باز"),
    "alert_worker_clock": ("worker clock wrong", "ساعت پردازشگر نادرست"),
}


def t(lang: str, key: str, **values: object) -> str:
    """The text for `key` in `lang` (English when a Persian text is missing), with {values} filled in."""
    english, persian = _STRINGS.get(key, (key, key))
    text = persian if lang == "fa" and persian else english
    if values:
        if lang == "fa":
            values = {k: to_persian_digits(str(v)) for k, v in values.items()}
        text = text.format(**values)
    return text


def direction(lang: str) -> str:
    """`rtl` or `ltr` for the `dir` attribute."""
    return "rtl" if lang.split("-")[0] in RTL_LANGUAGES else "ltr"


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
        jalali = jdatetime.datetime.fromgregorian(datetime=local.replace(tzinfo=None))
        text = jalali.strftime("%Y/%m/%d %H:%M" if with_date else "%H:%M")
        return to_persian_digits(text)
    return local.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M")


def local_date(value: date | None, lang: str) -> str:
    if value is None:
        return "–"
    if lang == "fa":
        return to_persian_digits(jdatetime.date.fromgregorian(date=value).strftime("%Y/%m/%d"))
    return value.isoformat()


def date_input_value(value: date | None, lang: str) -> str:
    """A date as the filter form shows it back: Jalali for fa, ISO for en (ASCII digits either way)."""
    if value is None:
        return ""
    if lang == "fa":
        return jdatetime.date.fromgregorian(date=value).strftime("%Y/%m/%d")
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
        return jdatetime.date(year, month, day).togregorian()
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


def status_label(status: str, lang: str) -> str:
    return t(lang, f"st_{status}") if f"st_{status}" in _STRINGS else status


def queue_name(centre: object, queue_id: str, lang: str) -> str:
    queues = getattr(centre, "queues", {})
    queue = queues.get(queue_id)
    if queue is None:
        return queue_id
    return queue.name.get(lang) or queue.name.get("en") or queue_id


def strings(lang: str, keys: list[str]) -> dict[str, str]:
    """Several texts at once (for the board's script)."""
    return {key: t(lang, key) for key in keys}
