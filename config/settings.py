"""Typed settings from the environment (names fixed in DESIGN.md)."""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
EXAMPLE_CONFIG = PACKAGE_DIR / "example.yaml"


class SettingsError(ValueError):
    """An environment variable has a value we cannot use; the message names it."""


class Settings(BaseSettings):
    """Process settings. Every field maps to the upper-case environment variable of the same name."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    instance_path: Path = Path("instance")
    database_url: str = ""
    ivr_config: Path = EXAMPLE_CONFIG
    public_base_url: str = "http://127.0.0.1:5000"
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    # Accepted as well as the primary token while an operator rotates it in Twilio's console.
    twilio_secondary_auth_token: str = ""
    twilio_phone_number: str = ""
    twilio_api_base_url: str = "https://api.twilio.com"
    secret_key: str = ""
    telephony: Literal["twilio", "simulator", ""] = ""
    # memory:// is right for one process; several web processes share limits through Redis.
    ratelimit_storage_url: str = "memory://"
    max_request_bytes: int = 16 * 1024
    # text for a person at a terminal; json (one object per line) for journald, Loki, Elasticsearch.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # `ivr serve` (gunicorn): where it listens, and how many processes (0: two per core, plus one).
    web_bind: str = "127.0.0.1:8000"
    web_concurrency: int = Field(default=0, ge=0, le=64)
    # `ivr worker` serves its own Prometheus /metrics here (port 0: not at all).
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=9102, ge=0, le=65535)
    # The reverse proxies in front of us: a count (that many proxies, each adding one X-Forwarded-For entry) or
    # their addresses/networks. Only then do X-Forwarded-* headers say who the client is; unset, nobody is believed.
    trusted_proxies: str = ""
    # Who may read /metrics (and /readyz's details): a bearer token, and/or these addresses/networks.
    metrics_token: str = ""
    metrics_allow: str = "127.0.0.1/8, ::1"
    # Mount the simulator although PUBLIC_BASE_URL is not local: only for a public demo without real credentials.
    simulator_public_demo: bool = False

    @field_validator("public_base_url", "twilio_api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"expected an http(s) URL such as https://support.example.com, got {value!r}")
        return value.rstrip("/")

    @field_validator("twilio_phone_number")
    @classmethod
    def _e164(cls, value: str) -> str:
        if value and not (value.startswith("+") and value[1:].isdigit()):
            raise ValueError(f"expected an E.164 number such as +14155550100, got {value!r}")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        parse_trusted_proxies(value)
        return value

    @field_validator("metrics_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @model_validator(mode="after")
    def _twilio_pair(self) -> Settings:
        # One credential without the other used to fall back to the simulator, signing with the real token.
        sid, token = bool(self.twilio_account_sid), bool(self.twilio_auth_token)
        if sid != token:
            missing = "TWILIO_AUTH_TOKEN" if sid else "TWILIO_ACCOUNT_SID"
            given = "TWILIO_ACCOUNT_SID" if sid else "TWILIO_AUTH_TOKEN"
            raise ValueError(f"{given} is set but {missing} is not: set both for Twilio, neither for the simulator")
        if self.telephony == "simulator" and sid:
            raise ValueError("TELEPHONY=simulator with Twilio credentials set: unset TWILIO_ACCOUNT_SID and "
                             "TWILIO_AUTH_TOKEN (the simulator makes its own account, never uses a real token)")
        return self

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def telephony_provider(self) -> str:
        """`twilio` when credentials are set (or asked for), else the built-in simulator."""
        if self.telephony:
            return self.telephony
        return "twilio" if self.twilio_account_sid and self.twilio_auth_token else "simulator"

    @property
    def public_url_is_local(self) -> bool:
        """PUBLIC_BASE_URL points at this machine (loopback or localhost): nobody else can reach it."""
        host = urlsplit(self.public_base_url).hostname or ""
        if host == "localhost" or host.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @property
    def simulator_allowed(self) -> bool:
        """The simulator may be mounted: no Twilio credential at all, and a local address or the demo flag."""
        return (self.telephony_provider == "simulator" and not self.twilio_account_sid
                and not self.twilio_auth_token and (self.public_url_is_local or self.simulator_public_demo))

    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL, defaulting to a SQLite file under the instance folder."""
        if self.database_url:
            url = self.database_url
            # Heroku-style URLs name the dialect "postgres"; SQLAlchemy wants a driver.
            if url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url[len("postgres://") :]
            elif url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://") :]
            return url
        return f"sqlite:///{(self.instance_path / 'ivr.sqlite3').resolve()}"

    def resolved_secret_key(self) -> str:
        """SECRET_KEY, or one generated once per instance and kept under the instance folder."""
        if self.secret_key:
            return self.secret_key
        self.instance_path.mkdir(parents=True, exist_ok=True)
        path = self.instance_path / "secret_key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str) -> list[Network]:
    """Addresses or networks separated by commas or spaces; ValueError names the entry that is neither."""
    found: list[Network] = []
    for entry in value.replace(",", " ").split():
        try:
            if entry.isdecimal():  # ip_network("1") would read a bare number as the address 0.0.0.1
                raise ValueError(entry)
            found.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)") from None
    return found


def parse_trusted_proxies(value: str) -> int | list[Network]:
    """TRUSTED_PROXIES: a count of proxies (1-10), or their addresses/networks; "" trusts nobody (0)."""
    value = value.strip()
    if not value:
        return 0
    if value.isdecimal():
        count = int(value)
        if not 0 <= count <= 10:
            raise ValueError(f"{value!r}: a count of proxies must be between 0 and 10")
        return count
    return parse_networks(value)


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; a bad value raises SettingsError naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            message = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"{str(err['loc'][0]).upper()}: {message}" if err["loc"] else message)
        raise SettingsError("invalid environment: " + "; ".join(lines)) from exc
