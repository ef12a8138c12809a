"""A local stand-in for Twilio's REST API, for tests and benchmarks: Calls create/list/fetch/update, Messages
create, the Account, the account's IncomingPhoneNumbers (list, update) and Voice dialing permissions per country.

Point the real adapter at it with TWILIO_API_BASE_URL. Given a validator (see `openapi_validator`), it checks
every request to the 2010-04-01 API against Twilio's official OpenAPI description and refuses (HTTP 400, recorded
in `errors`) any the real API would not accept. Voice v1 (`/v1/DialingPermissions/...`, served by
voice.twilio.com) is not in that description: those requests are answered in the shape of Twilio's voice v1
description (the `twilio` client parses them) but not validated. It can be told to answer 429 or 5xx, or to
stall past the client's timeout.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from werkzeug.datastructures import Headers, ImmutableMultiDict
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

Validator = Callable[[Request], list[str]]
# A phone number's settings as the update form names them, and as its JSON does.
NUMBER_FIELDS = {"VoiceUrl": "voice_url", "VoiceMethod": "voice_method", "VoiceFallbackUrl": "voice_fallback_url",
                 "VoiceFallbackMethod": "voice_fallback_method", "StatusCallback": "status_callback",
                 "StatusCallbackMethod": "status_callback_method", "FriendlyName": "friendly_name"}
PREFIX = "/2010-04-01/Accounts/<account>"


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@dataclass
class _Scripted:
    status: int
    code: int | None
    message: str
    placed: bool
    stall: float


class TwilioStub:
    """A threaded WSGI server answering like api.twilio.com."""

    def __init__(self, *, validator: Validator | None = None, auth_token: str | None = None):
        self.validator = validator
        self.auth_token = auth_token
        self.calls: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.messages: list[dict[str, Any]] = []
        # The account's phone numbers by sid, and the countries its voice geo permissions allow (low-risk numbers).
        self.numbers: dict[str, dict[str, Any]] = {}
        self.geo_allowed: set[str] = set()
        self.account_status = "active"
        self._script: deque[_Scripted] = deque()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.urls = Map([
            Rule(f"{PREFIX}/Calls.json", methods=["POST"], endpoint="create_call"),
            Rule(f"{PREFIX}/Calls.json", methods=["GET"], endpoint="list_calls"),
            Rule(f"{PREFIX}/Calls/<sid>.json", methods=["GET"], endpoint="fetch_call"),
            Rule(f"{PREFIX}/Calls/<sid>.json", methods=["POST"], endpoint="update_call"),
            Rule(f"{PREFIX}/Messages.json", methods=["POST"], endpoint="create_message"),
            Rule("/2010-04-01/Accounts/<account>.json", methods=["GET"], endpoint="fetch_account"),
            Rule(f"{PREFIX}/IncomingPhoneNumbers.json", methods=["GET"], endpoint="list_numbers"),
            Rule(f"{PREFIX}/IncomingPhoneNumbers/<sid>.json", methods=["GET"], endpoint="fetch_number"),
            Rule(f"{PREFIX}/IncomingPhoneNumbers/<sid>.json", methods=["POST"], endpoint="update_number"),
            Rule("/v1/DialingPermissions/Countries/<iso>", methods=["GET"], endpoint="fetch_geo_permission"),
        ])

    # -- lifecycle -----------------------------------------------------------------------------------------------
    def start(self) -> str:
        self._server = make_server("127.0.0.1", 0, self, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> TwilioStub:
        self.base_url = self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- scripting -----------------------------------------------------------------------------------------------
    def fail_next(self, status: int, code: int | None = None, message: str = "scripted failure", *,
                  placed: bool = False, stall: float = 0.0) -> None:
        """Answer the next call-create with `status` (placing the call anyway when `placed`), after `stall` s."""
        self._script.append(_Scripted(status, code, message, placed, stall))

    def add_number(self, phone_number: str, account: str, **fields: Any) -> str:
        """A phone number of the account (its webhooks unset unless given, e.g. voice_url=...); returns its sid."""
        sid = f"PN{next(self._ids):032x}"
        now = format_datetime(datetime.now(UTC), usegmt=True)
        number = {
            "sid": sid, "account_sid": account, "phone_number": phone_number, "friendly_name": phone_number,
            "voice_url": "", "voice_method": "POST", "voice_fallback_url": "", "voice_fallback_method": "POST",
            "status_callback": "", "status_callback_method": "POST", "voice_application_sid": "", "trunk_sid": None,
            "voice_caller_id_lookup": False, "sms_url": "", "sms_method": "POST", "api_version": "2010-04-01",
            "capabilities": {"voice": True, "sms": True, "mms": False, "fax": False}, "status": "in-use",
            "origin": "twilio", "date_created": now, "date_updated": now,
            "uri": f"/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{sid}.json",
        }
        number.update(fields)
        with self._lock:
            self.numbers[sid] = number
        return sid

    def allow_country(self, iso: str, allowed: bool = True) -> None:
        """Geo permissions: allow (or stop) calls to low-risk numbers of the country `iso`."""
        with self._lock:
            (self.geo_allowed.add if allowed else self.geo_allowed.discard)(iso.upper())

    def set_status(self, sid: str, status: str, *, duration: int | None = None, answered_by: str | None = None) -> None:
        with self._lock:
            self.calls[sid].update(status=status, duration=str(duration) if duration is not None else None,
                                   answered_by=answered_by)

    # -- WSGI ----------------------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        request.get_data()  # cache the raw body first: the validator needs it after the form is parsed
        with self._lock:
            self.requests.append({"method": request.method, "path": request.path,
                                  "form": request.form.to_dict(flat=False), "args": request.args.to_dict(flat=False)})
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        if not self._authorised(request):
            return self._json({"code": 20003, "message": "Authenticate", "status": 401}, 401)
        if self.validator is not None and request.path.startswith("/2010-04-01/"):
            problems = self.validator(request)
            if problems:
                with self._lock:
                    self.errors.extend(problems)
                return self._json({"code": 21201, "message": "; ".join(problems), "status": 400}, 400)
        adapter = self.urls.bind("api.twilio.com")
        try:
            endpoint, values = adapter.match(request.path, method=request.method)
        except Exception:
            return self._json({"code": 20404, "message": "not found", "status": 404}, 404)
        return getattr(self, f"_{endpoint}")(request, **values)

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        if self.auth_token is None:
            return True
        _user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return password == self.auth_token

    @staticmethod
    def _json(payload: dict[str, Any], status: int) -> Response:
        return Response(json.dumps(payload), status=status, mimetype="application/json")

    def _call_json(self, call: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in call.items() if not k.startswith("_")}

    def _create_call(self, request: Request, account: str) -> Response:
        scripted = self._script.popleft() if self._script else None
        if scripted is None:
            return self._json(self._call_json(self._place_call(request, account)), 201)
        if scripted.placed:
            self._place_call(request, account)  # placed, and yet the answer is an error: an unknown outcome
        if scripted.stall:
            time.sleep(scripted.stall)
        return self._json({"code": scripted.code, "message": scripted.message, "status": scripted.status,
                           "more_info": "https://www.twilio.com/docs/errors"}, scripted.status)

    def _place_call(self, request: Request, account: str) -> dict[str, Any]:
        sid = f"CA{next(self._ids):032x}"
        now = datetime.now(UTC)
        call: dict[str, Any] = {
            "sid": sid, "account_sid": account, "to": request.form.get("To"), "from": request.form.get("From"),
            "status": "queued", "direction": "outbound-api", "api_version": "2010-04-01",
            "date_created": format_datetime(now, usegmt=True), "date_updated": format_datetime(now, usegmt=True),
            "start_time": None, "end_time": None, "duration": None, "answered_by": None,
            "parent_call_sid": None, "price": None, "uri": f"/2010-04-01/Accounts/{account}/Calls/{sid}.json",
            "_url": request.form.get("Url"), "_status_callback": request.form.get("StatusCallback"),
        }
        with self._lock:
            self.calls[sid] = call
        return call

    def _fetch_call(self, request: Request, account: str, sid: str) -> Response:
        call = self.calls.get(sid)
        if call is None:
            return self._json({"code": 20404, "message": f"The requested resource {request.path} was not found",
                               "status": 404}, 404)
        return self._json(self._call_json(call), 200)

    def _update_call(self, request: Request, account: str, sid: str) -> Response:
        """Status=canceled stops a queued or ringing call; Status=completed ends any call still going on."""
        with self._lock:
            call = self.calls.get(sid)
            if call is None:
                return self._json({"code": 20404, "message": f"The requested resource {request.path} was not found",
                                   "status": 404}, 404)
            wanted = request.form.get("Status")
            if wanted == "canceled" and call["status"] in ("queued", "initiated", "ringing"):
                call["status"] = "canceled"
            elif wanted == "completed" and call["status"] in ("queued", "initiated", "ringing", "in-progress"):
                call["status"] = "completed"
            call["date_updated"] = format_datetime(datetime.now(UTC), usegmt=True)
            return self._json(self._call_json(call), 200)

    def _list_calls(self, request: Request, account: str) -> Response:
        wanted = {"to": request.args.get("To"), "from": request.args.get("From"),
                  "parent_call_sid": request.args.get("ParentCallSid")}
        with self._lock:
            found = [self._call_json(c) for c in reversed(list(self.calls.values()))
                     if all(v is None or c.get(k) == v for k, v in wanted.items())]
        size = int(request.args.get("PageSize", 50))
        return self._json({"calls": found[:size], "page": 0, "page_size": size, "start": 0, "end": len(found[:size]),
                           "first_page_uri": request.full_path, "next_page_uri": None, "previous_page_uri": None,
                           "uri": request.full_path}, 200)

    def _create_message(self, request: Request, account: str) -> Response:
        sid = f"SM{next(self._ids):032x}"
        message = {"sid": sid, "account_sid": account, "to": request.form.get("To"),
                   "from": request.form.get("From"), "body": request.form.get("Body"), "status": "queued"}
        with self._lock:
            self.messages.append(message)
        return self._json(message, 201)


    def _fetch_account(self, request: Request, account: str) -> Response:
        return self._json({"sid": account, "owner_account_sid": account, "friendly_name": "Support line",
                           "status": self.account_status, "type": "Full", "auth_token": "",
                           "date_created": format_datetime(datetime(2026, 1, 1, tzinfo=UTC), usegmt=True),
                           "date_updated": format_datetime(datetime(2026, 1, 1, tzinfo=UTC), usegmt=True),
                           "uri": f"/2010-04-01/Accounts/{account}.json", "subresource_uris": {}}, 200)

    def _list_numbers(self, request: Request, account: str) -> Response:
        wanted = request.args.get("PhoneNumber")
        with self._lock:
            found = [dict(n) for n in self.numbers.values()
                     if n["account_sid"] == account and (wanted is None or n["phone_number"] == wanted)]
        size = int(request.args.get("PageSize", 50))
        return self._json({"incoming_phone_numbers": found[:size], "page": 0, "page_size": size, "start": 0,
                           "end": len(found[:size]), "first_page_uri": request.full_path, "next_page_uri": None,
                           "previous_page_uri": None, "uri": request.full_path}, 200)

    def _fetch_number(self, request: Request, account: str, sid: str) -> Response:
        number = self.numbers.get(sid)
        if number is None or number["account_sid"] != account:
            return self._json({"code": 20404, "message": f"The requested resource {request.path} was not found",
                               "status": 404}, 404)
        return self._json(dict(number), 200)

    def _update_number(self, request: Request, account: str, sid: str) -> Response:
        with self._lock:
            number = self.numbers.get(sid)
            if number is None or number["account_sid"] != account:
                return self._json({"code": 20404, "message": f"The requested resource {request.path} was not found",
                                   "status": 404}, 404)
            for form_name, field_name in NUMBER_FIELDS.items():
                if form_name in request.form:
                    number[field_name] = request.form[form_name]
            number["date_updated"] = format_datetime(datetime.now(UTC), usegmt=True)
            return self._json(dict(number), 200)

    def _fetch_geo_permission(self, request: Request, iso: str) -> Response:
        iso = iso.upper()
        allowed = iso in self.geo_allowed
        return self._json({"iso_code": iso, "name": iso, "continent": None, "country_codes": [],
                           "low_risk_numbers_enabled": allowed, "high_risk_special_numbers_enabled": False,
                           "high_risk_tollfraud_numbers_enabled": False,
                           "url": f"https://voice.twilio.com/v1/DialingPermissions/Countries/{iso}",
                           "links": {}}, 200)


class _OpenAPIRequest:
    """A werkzeug request as openapi-core sees it, addressed to https://api.twilio.com (the spec's server)."""

    def __init__(self, request: Request):
        from openapi_core.datatypes import RequestParameters

        self.host_url = "https://api.twilio.com"
        self.path = request.path
        self.full_url_pattern = self.host_url + request.path
        self.method = request.method.lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.args.items(multi=True))),
            header=Headers(request.headers),
            cookie=ImmutableMultiDict(list(request.cookies.items(multi=True))),
        )
        self.content_type = request.content_type or ""
        self.body = request.get_data() or None


def openapi_validator(spec: dict[str, Any]) -> Validator:
    """A validator checking requests against an OpenAPI description (Twilio's twilio_api_v2010.json)."""
    from openapi_core import OpenAPI

    api = OpenAPI.from_dict(spec)

    def validate(request: Request) -> list[str]:
        try:
            api.validate_request(_OpenAPIRequest(request))
        except Exception as exc:
            detail = "; ".join(str(e) for e in getattr(exc, "schema_errors", []) or getattr(exc, "errors", []) or [])
            cause = exc.__cause__
            return [f"{request.method} {request.path}: {type(exc).__name__}: {exc} {detail} "
                    f"{type(cause).__name__ + ': ' + str(cause) if cause else ''}".strip()]
        return []

    return validate
