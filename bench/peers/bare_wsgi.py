"""The floor under every webhook: a WSGI callable answering any request with a fixed TwiML document (it reads the
body, as a webhook must). What gunicorn's sync workers and the load generator cost on their own.

    gunicorn -w 2 bench.peers.bare_wsgi:app
"""

BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/ivr/menu" method="POST" numDigits="1">'
    b"<Say>Press 1 for directions.</Say></Gather></Response>"
)


def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(BODY)))])
    return [BODY]
