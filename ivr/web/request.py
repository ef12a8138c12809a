"""The web app's request class: query strings and URL-encoded forms (every Twilio webhook's body) decoded by one loop.

Werkzeug decodes both with `urllib.parse.parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote")`,
which spends several Python calls on each name and value whether or not there is anything to decode, and builds a
form parser (reading four settings through Flask's proxies) before it. `parse_urlencoded` gives the same pairs,
unquoting only where there is a '%'; the stream, its size limit, what an undecodable body gives and everything else
is werkzeug's and Flask's own (multipart forms go to them untouched). A property test holds the two to each other.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import werkzeug.urls  # noqa: F401  (registers the "werkzeug.url_quote" error handler used below)
from flask import Request
from flask.debughelpers import attach_enctype_error_multidict
from werkzeug.datastructures import MultiDict
from werkzeug.utils import cached_property

from ivr.web.current import current_flask_app

URLENCODED = "application/x-www-form-urlencoded"
# Bytes that are not UTF-8 after a '%' stay percent-encoded, as werkzeug leaves them.
_UNDECODABLE = "werkzeug.url_quote"


def parse_urlencoded(text: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of `text` exactly as `parse_qsl(text, keep_blank_values=True,
    errors="werkzeug.url_quote")` gives them: fields split on '&' (empty ones skipped), a name without '=' has the
    value '', '+' is a space, %XX is decoded as UTF-8."""
    pairs = []
    for field in text.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        if "+" in name:
            name = name.replace("+", " ")
        if "%" in name:
            name = unquote(name, "utf-8", _UNDECODABLE)
        if "+" in value:
            value = value.replace("+", " ")
        if "%" in value:
            value = unquote(value, "utf-8", _UNDECODABLE)
        pairs.append((name, value))
    return pairs


class WebRequest(Request):
    """Flask's request, with query strings and URL-encoded forms decoded by `parse_urlencoded`."""

    @cached_property
    def args(self) -> MultiDict[str, str]:
        """The URL's parameters, as werkzeug's `args` gives them."""
        return self.parameter_storage_class(parse_urlencoded(self.query_string.decode()))

    def _load_form_data(self) -> None:
        """A URL-encoded body read here; anything else (multipart, no body, JSON) as Flask reads it."""
        if "form" in self.__dict__ or self.mimetype != URLENCODED:
            super()._load_form_data()
            return
        # The stream as werkzeug gives it to its parser: limited to the content length and MAX_CONTENT_LENGTH.
        stream = self._get_stream_for_parsing()
        storage: Any = self.parameter_storage_class
        try:
            form = storage(parse_urlencoded(stream.read().decode()))
        except ValueError:  # a body that is not UTF-8: no fields, as werkzeug's (silent) parser answers
            form = storage()
        self.__dict__.update(stream=stream, form=form, files=storage())
        if current_flask_app().debug:  # Flask's hint when a view looks for a file in a form that cannot hold one
            attach_enctype_error_multidict(self)


__all__ = ["URLENCODED", "WebRequest", "parse_urlencoded"]
