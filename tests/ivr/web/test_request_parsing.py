"""Query strings and URL-encoded forms (every Twilio webhook's body), read by the web app's own request class, give
exactly what Flask's and werkzeug's reading gives: the same fields in the same order, the same refusals."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest
from flask import Request
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.test import EnvironBuilder

from ivr.app import WebApp
from ivr.web.request import WebRequest, parse_urlencoded

# Pieces that take every branch of the decoding: separators, '+', good and broken percent escapes, a percent-encoded
# lone surrogate and NUL, bytes that are not UTF-8 after a '%', text beyond ASCII.
PIECES = ["a", "B", "=", "&", "+", " ", "%", "%2", "%zz", "%2B", "%26", "%3D", "%C3%A9", "%ED%A0%80", "%FF", "%00",
          "é", "\x00", "CallSid", "Digits"]
texts = st.lists(st.sampled_from(PIECES), max_size=24).map("".join)
bodies = st.one_of(texts.map(lambda text: text.encode("utf-8")), st.binary(max_size=40))
CONTENT_TYPES = ["application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=utf-8",
                 "APPLICATION/X-WWW-FORM-URLENCODED", "text/plain", "multipart/form-data; boundary=x", ""]


@given(texts)
def test_a_query_string_or_form_body_gives_the_pairs_werkzeug_gives(text: str) -> None:
    assert parse_urlencoded(text) == parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote")


def _outcome(read: Any) -> Any:
    try:
        return list(read().items(multi=True))
    except RequestEntityTooLarge:
        return "refused: too large"


def _read(request_class: type[Request], app: WebApp, body: bytes, content_type: str, query: str,
          data_first: bool) -> Any:
    environ = EnvironBuilder(method="POST", path="/twilio/voice", query_string=query, data=body,
                             content_type=content_type or None).get_environ()
    with app.app_context():
        request = request_class(environ)
        if data_first:  # a view that read the raw body before the form: werkzeug reads the form from the copy
            try:
                request.get_data()
            except RequestEntityTooLarge:
                pass
        return _outcome(lambda: request.form), _outcome(lambda: request.files), _outcome(lambda: request.args)


@pytest.fixture(scope="module")
def small_app() -> WebApp:
    app = WebApp(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 30
    return app


@settings(max_examples=300)
@given(body=bodies, content_type=st.sampled_from(CONTENT_TYPES), query=texts, data_first=st.booleans())
def test_a_request_reads_its_form_and_query_as_flask_reads_them(small_app: WebApp, body: bytes, content_type: str,
                                                                query: str, data_first: bool) -> None:
    ours = _read(WebRequest, small_app, body, content_type, query.encode("utf-8").decode("latin-1"), data_first)
    flasks = _read(Request, small_app, body, content_type, query.encode("utf-8").decode("latin-1"), data_first)
    assert ours == flasks
