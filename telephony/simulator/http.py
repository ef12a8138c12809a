"""How the simulator reaches our app: plain HTTP, like Twilio (requests), or a Flask test client in tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

# Twilio gives up on a webhook after 15 seconds and plays its "application error" to the caller.
WEBHOOK_TIMEOUT = 15.0


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    content_type: str = ""


class HttpClient(Protocol):
    """Sends one request; raises nothing for HTTP errors (they are answers), OSError for no answer at all."""

    def request(
        self, method: str, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpResponse: ...


class RequestsHttp:
    """Real HTTP with `requests` (what a running simulator uses to reach the web process)."""

    def __init__(self, timeout: float = WEBHOOK_TIMEOUT):
        import requests

        self.timeout = timeout
        self.session = requests.Session()
        self._errors = (requests.RequestException,)

    def request(
        self, method: str, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpResponse:
        try:
            if method == "GET":
                response = self.session.get(url, headers=dict(headers), timeout=self.timeout)
            else:
                response = self.session.post(url, data=dict(params), headers=dict(headers), timeout=self.timeout)
        except self._errors as exc:
            raise OSError(f"{method} {url}: {exc}") from exc
        return HttpResponse(response.status_code, response.content, response.headers.get("Content-Type", ""))


class FlaskClientHttp:
    """Requests through a Flask test client (`app.test_client()`), keeping the absolute URL's host and scheme."""

    def __init__(self, client: Any):
        self.client = client

    def request(
        self, method: str, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpResponse:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        base = f"{parts.scheme}://{parts.netloc}"
        if method == "GET":
            response = self.client.get(path, headers=dict(headers), base_url=base)
        else:
            response = self.client.post(path, data=dict(params), headers=dict(headers), base_url=base)
        return HttpResponse(response.status_code, response.get_data(), response.headers.get("Content-Type", ""))


@dataclass(frozen=True)
class Exchange:
    """One request the simulator made and the answer it got, byte for byte."""

    method: str
    url: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int
    body: bytes


class RecordingHttp:
    """Wraps another client and keeps every exchange (tests compare it with what the engine executed)."""

    def __init__(self, inner: HttpClient):
        self.inner = inner
        self.exchanges: list[Exchange] = []

    def request(
        self, method: str, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpResponse:
        response = self.inner.request(method, url, params, headers)
        self.exchanges.append(Exchange(method, url, dict(params), dict(headers), response.status, response.body))
        return response


__all__ = ["Exchange", "FlaskClientHttp", "HttpClient", "HttpResponse", "RecordingHttp", "RequestsHttp"]
