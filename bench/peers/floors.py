"""The chosen stack's floor: the libraries the design mandates for each process (names only; nothing is imported here).

`WEB_FLOOR` is what any web process on this stack imports before it does anything: Flask; SQLAlchemy's core, ORM and
the SQLite dialect and driver (the default database); pydantic-settings; phonenumbers; Twilio's TwiML builder and
request validator; the `holidays` package business hours are counted with; a YAML parser for the contact centre's
file. `WORKER_FLOOR` is the same for `ivr worker`: click (the `ivr` command), SQLAlchemy, APScheduler 3's blocking
scheduler, thread pool and interval trigger, pydantic-settings, Twilio's REST client (the worker dials),
phonenumbers, holidays and YAML. Everything else a process of ours holds (rate limits, metrics, our own modules,
configuration and data) is counted as ours.
"""

WEB_FLOOR = (
    "flask",
    "sqlalchemy",
    "sqlalchemy.orm",
    "sqlalchemy.dialects.sqlite",
    "sqlite3",
    "pydantic_settings",
    "phonenumbers",
    "twilio.twiml.voice_response",
    "twilio.request_validator",
    "holidays",
    "yaml",
)
WORKER_FLOOR = (
    "click",
    "sqlalchemy",
    "sqlalchemy.orm",
    "sqlalchemy.dialects.sqlite",
    "sqlite3",
    "apscheduler.schedulers.blocking",
    "apscheduler.executors.pool",
    "apscheduler.triggers.interval",
    "pydantic_settings",
    "twilio.rest",
    "phonenumbers",
    "holidays",
    "yaml",
)
