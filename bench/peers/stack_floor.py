"""The web process's floor as a peer: a WSGI callable in a module that imports `bench.peers.floors.WEB_FLOOR` and
nothing of ours, answering any request with fixed TwiML. Served by gunicorn like the other peers, its worker's RSS is
what any web worker on this stack holds before it does anything.

    gunicorn -w 2 bench.peers.stack_floor:app
"""

import importlib

from bench.peers.floors import WEB_FLOOR

for _name in WEB_FLOOR:
    importlib.import_module(_name)

BODY = b'<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hello.</Say></Response>'


def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(BODY)))])
    return [BODY]
