"""The contact-centre YAML, as typed models. Validation here is structural and per-field;
cross-references and the menu's promises are checked in `config.loader`."""

from __future__ import annotations

import itertools
import re
from datetime import date, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from config.durations import parse_duration

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
NUMBER_TYPES = {
    "mobile": phonenumbers.PhoneNumberType.MOBILE,
    "fixed_line": phonenumbers.PhoneNumberType.FIXED_LINE,
    "fixed_line_or_mobile": phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    "voip": phonenumbers.PhoneNumberType.VOIP,
    "toll_free": phonenumbers.PhoneNumberType.TOLL_FREE,
    "personal_number": phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    "uan": phonenumbers.PhoneNumberType.UAN,
    "pager": phonenumbers.PhoneNumberType.PAGER,
    "voicemail": phonenumbers.PhoneNumberType.VOICEMAIL,
}
# Never allowed whatever the YAML says: callers pay for these (toll fraud) or we cannot tell what they are.
FORBIDDEN_NUMBER_TYPES = ("premium_rate", "shared_cost", "unknown")
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OpeningSpan(Strict):
    """One opening span within a day, e.g. 08:00-20:00 (end may be 24:00)."""

    start: time
    end: time | None  # None = midnight at the end of the day

    @classmethod
    def parse(cls, text: str) -> OpeningSpan:
        match = _SPAN.match(str(text).replace(" ", ""))
        if not match:
            raise ValueError(f"expected a span such as 08:00-20:00, got {text!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h2 == 24 and m2 != 0:
            raise ValueError(f"{text!r}: 24:00 is the latest end")
        start = time(h1, m1)
        end = None if h2 == 24 else time(h2, m2)
        if end is not None and end <= start:
            raise ValueError(f"{text!r}: the end must come after the start (spans do not cross midnight)")
        return cls(start=start, end=end)


def _spans(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        return [OpeningSpan.parse(v) if isinstance(v, str) else v for v in value]
    return value


Spans = Annotated[list[OpeningSpan], BeforeValidator(_spans)]


class WeeklyHours(Strict):
    """Opening hours per weekday in the contact centre's timezone; a missing or empty day is closed."""

    monday: Spans = []
    tuesday: Spans = []
    wednesday: Spans = []
    thursday: Spans = []
    friday: Spans = []
    saturday: Spans = []
    sunday: Spans = []

    def for_weekday(self, weekday: int) -> list[OpeningSpan]:
        """Spans for Python's weekday number (Monday = 0)."""
        days = (self.monday, self.tuesday, self.wednesday, self.thursday, self.friday, self.saturday, self.sunday)
        return days[weekday]

    @model_validator(mode="after")
    def _not_overlapping(self) -> WeeklyHours:
        for day in WEEKDAYS:
            spans = sorted(getattr(self, day), key=lambda s: s.start)
            for a, b in itertools.pairwise(spans):
                if a.end is None or a.end > b.start:
                    raise ValueError(f"{day}: opening spans overlap")
        return self


class Holidays(Strict):
    """Closed days: the public holidays of `country` (the `holidays` package) plus extra dates."""

    country: str | None = "IR"
    subdivision: str | None = None
    extra: list[date] = []
    # Dates that are public holidays but on which the centre opens anyway.
    open_anyway: list[date] = []

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # The registry's codes: asking the package for its supported countries would import every country's module.
        from holidays.registry import EntityLoader

        value = value.upper()
        if value not in set(EntityLoader.get_country_codes()):
            raise ValueError(f"the holidays package has no calendar for country {value!r}")
        return value


class SLA(Strict):
    """How soon a callback is owed: `deadline` counted in business time or wall-clock time."""

    deadline: Duration
    clock: Literal["business", "wall"] = "business"
    # Warn supervisors when less than this share of the deadline's span is left and the forecast says it won't do.
    at_risk_margin: Duration = timedelta(minutes=10)

    @field_validator("deadline")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("the deadline must be longer than zero")
        return value


class RetryPolicy(Strict):
    """How often and how far apart a callback is attempted."""

    max_attempts: int = Field(3, ge=1, le=20)
    # Delay before attempt 2, 3, ...; the last is repeated when there are more attempts than delays.
    delays: list[Duration] = [timedelta(minutes=10), timedelta(minutes=30)]
    ring_timeout: Duration = timedelta(seconds=30)
    # A conversation shorter than this is not a kept callback (a hang-up on hearing the agent).
    min_talk_time: Duration = timedelta(seconds=20)
    # An attempt is not started unless this much time is left before the deadline.
    attempt_duration: Duration = timedelta(minutes=2)

    def delay_before(self, attempt_number: int) -> timedelta:
        """Wait between attempt `attempt_number - 1` and `attempt_number` (the first has none)."""
        if attempt_number <= 1 or not self.delays:
            return timedelta(0)
        return self.delays[min(attempt_number - 2, len(self.delays) - 1)]


class PromisePolicy(Strict):
    """What a new customer is told: the SLA when the capacity forecast keeps it, else the forecast plus `margin`.

    `ceiling` is counted in opening hours from the request (being closed is not being overloaded): a forecast
    beyond it is not promised; the request is still taken, the customer hears plainly that we are overloaded and
    supervisors are alerted. Left out, the margin is an eighth of the SLA's deadline and the ceiling four times it.
    """

    # false: every customer is quoted the SLA whatever the load (the behaviour before the forecast).
    forecast: bool = True
    margin: Duration | None = None
    ceiling: Duration | None = None

    @field_validator("margin", "ceiling")
    @classmethod
    def _not_negative(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(0):
            raise ValueError("must not be negative")
        return value


class Queue(Strict):
    """A queue of work for a group of agents, with its promise to callers."""

    name: dict[str, str] = {}
    sla: SLA
    retry: RetryPolicy = RetryPolicy()
    promise: PromisePolicy = PromisePolicy()
    priority: int = 0
    # agent_first: ring a free agent, then bridge the customer; customer_first: the reverse.
    dial_order: Literal["agent_first", "customer_first"] = "agent_first"
    # sms: a web request is stored only once the customer typed the code we texted to the number (proves it is
    # theirs); none: stored at once. Phone-menu requests never need it (we call the caller's own number, or read
    # a typed one back); API keys marked as verifying numbers themselves skip it.
    verify: Literal["sms", "none"] = "none"

    @property
    def quote_margin(self) -> timedelta:
        """Added to the forecast when the SLA cannot be kept."""
        return self.promise.margin if self.promise.margin is not None else self.sla.deadline / 8

    @property
    def quote_ceiling(self) -> timedelta:
        """The latest promise we make, in opening hours from the request."""
        return self.promise.ceiling if self.promise.ceiling is not None else self.sla.deadline * 4


def promise_problems(queue_id: str, queue: Queue) -> list[tuple[tuple[str, ...], str]]:
    """Cross-field checks of a queue's promise (the YAML path and the message), run by the loader."""
    problems: list[tuple[tuple[str, ...], str]] = []
    where = ("queues", queue_id, "promise")
    if queue.promise.ceiling is not None and queue.promise.ceiling <= queue.sla.deadline:
        problems.append(((*where, "ceiling"), f"the ceiling must be longer than the SLA's deadline "
                         f"({_minutes(queue.sla.deadline)})"))
    if queue.quote_margin >= queue.quote_ceiling:
        problems.append(((*where, "margin"), f"the margin must be shorter than the ceiling "
                         f"({_minutes(queue.quote_ceiling)})"))
    return problems


def _minutes(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


class PhonePolicy(Strict):
    """Which numbers we accept for callbacks (toll-fraud protection lives here, not in the Twilio adapter)."""

    default_region: str = "IR"
    allowed_countries: list[str] = ["IR"]
    allowed_types: list[str] = ["mobile", "fixed_line", "fixed_line_or_mobile"]
    # E.164 prefixes never dialled, e.g. a range abused for fraud.
    denied_prefixes: list[str] = []

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        value = value.upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {value!r}; expected an ISO country code such as IR or GB")
        return value

    @field_validator("allowed_countries")
    @classmethod
    def _countries(cls, value: list[str]) -> list[str]:
        value = [v.upper() for v in value]
        bad = [v for v in value if v not in phonenumbers.SUPPORTED_REGIONS]
        if bad:
            raise ValueError(f"unknown country codes {bad}; expected ISO codes such as IR or GB")
        if not value:
            raise ValueError("at least one country must be allowed")
        return value

    @field_validator("allowed_types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        forbidden = [v for v in value if v in FORBIDDEN_NUMBER_TYPES]
        if forbidden:
            raise ValueError(f"{forbidden} can never be allowed (callers are charged for them, or they are unknown)")
        bad = [v for v in value if v not in NUMBER_TYPES]
        if bad:
            raise ValueError(f"unknown number types {bad}; expected some of {sorted(NUMBER_TYPES)}")
        return value

    @field_validator("denied_prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.fullmatch(r"\+\d{1,14}", v)]
        if bad:
            raise ValueError(f"prefixes must be '+' and digits, got {bad}")
        return value


class Limits(Strict):
    """Abuse limits on callback requests, in Flask-Limiter's notation ("5 per hour")."""

    per_phone: str = "5 per hour"
    per_client: str = "30 per minute"
    api_per_key: str = "600 per minute"
    # Callback attempts to one number in any 24 hours, across all its callbacks and queues: an attempt that would
    # exceed it waits until the oldest leaves the window (or the callback is missed when that is past its deadline).
    calls_per_number_per_day: int = Field(6, ge=1, le=100)
    # The spending breaker: callback attempts started in any hour, across all workers. Reaching it pauses dispatch
    # until the hour's count falls below it, and alerts supervisors once per trip. 0 turns it off.
    dials_per_hour: int = Field(1000, ge=0, le=1_000_000)


class Verification(Strict):
    """The one-time code a web request's number must prove (queues with `verify: sms`)."""

    code_length: int = Field(6, ge=4, le=10)
    # How long a code may be typed after it was sent.
    code_ttl: Duration = timedelta(minutes=10)
    # Wrong codes allowed per code; after the last one the code is dead and a new one must be asked for.
    max_tries: int = Field(5, ge=1, le=20)
    # Codes sent to one number in any hour (each one is an SMS we pay for, to someone who may not have asked).
    codes_per_number_per_hour: int = Field(3, ge=1, le=50)

    @field_validator("code_ttl")
    @classmethod
    def _sensible_ttl(cls, value: timedelta) -> timedelta:
        if not timedelta(minutes=1) <= value <= timedelta(hours=1):
            raise ValueError("must be between 1m and 1h: long enough to read an SMS, short enough not to be guessed")
        return value


class Dispatch(Strict):
    """How the worker dials."""

    calls_per_second: float = Field(1.0, gt=0, le=100)
    lease: Duration = timedelta(minutes=2)
    tick: Duration = timedelta(seconds=2)
    wrap_up: Duration = timedelta(seconds=30)
    machine_detection: bool = True
    # A worker whose clock differs from the database server's by more than this stops dialing and alerts
    # supervisors (leases and deadlines are compared on each worker's clock); 0 turns the check off.
    max_clock_skew: Duration = timedelta(seconds=5)

    @field_validator("lease")
    @classmethod
    def _lease_outlasts_a_dial(cls, value: timedelta) -> timedelta:
        # A call is placed only while the lease outlasts the provider's answer (10 s) plus settling (10 s).
        if value < timedelta(seconds=30):
            raise ValueError("must be at least 30s: a worker dials only while its lease outlasts the provider's "
                             "answer time")
        return value


class CustomerSms(Strict):
    """Promises in writing: a text message to the customer with the promised time, the reference and the status
    link, whatever the channel; and another when an attempt failed, with the time of the next one."""

    enabled: bool = False
    on_retry: bool = True


class Alerts(Strict):
    """Where supervisor alerts go."""

    email_to: list[str] = []
    email_from: str = "ivr@localhost"
    smtp_url: str = ""
    webhook_url: str = ""
    sms_to: list[str] = []
    digest_time: time = time(8, 0)


class ContactCentre(Strict):
    """The whole contact-centre configuration file."""

    name: str = "Support"
    timezone: str = "Asia/Tehran"
    languages: list[str] = ["fa", "en"]
    default_language: str = "fa"
    hours: WeeklyHours
    holidays: Holidays = Holidays()
    phone_numbers: PhonePolicy = PhonePolicy()
    queues: dict[str, Queue]
    default_queue: str
    limits: Limits = Limits()
    verification: Verification = Verification()
    dispatch: Dispatch = Dispatch()
    alerts: Alerts = Alerts()
    customer_sms: CustomerSms = CustomerSms()
    # The phone tree; its schema and its promises are checked by the phone-tree loader.
    ivr: dict[str, Any] = {}

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            near = sorted(z for z in available_timezones() if value.split("/")[-1].lower() in z.lower())[:3]
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise ValueError(f"unknown timezone {value!r} (expected an IANA name such as Asia/Tehran){hint}") from None
        return value

    @field_validator("queues")
    @classmethod
    def _some_queue(cls, value: dict[str, Queue]) -> dict[str, Queue]:
        if not value:
            raise ValueError("at least one queue is needed")
        bad = [k for k in value if not re.fullmatch(r"[a-z0-9_-]{1,40}", k)]
        if bad:
            raise ValueError(f"queue ids must be lower-case letters, digits, '_' or '-', got {bad}")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def queue(self, queue_id: str | None) -> Queue:
        return self.queues[queue_id or self.default_queue]
