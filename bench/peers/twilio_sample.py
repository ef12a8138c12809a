"""The welcome step of Twilio's own Flask IVR sample (TwilioDevEd/ivr-phone-tree-flask, MIT licence), kept as it
is there: a Flask app whose `/ivr/welcome` view builds a <Gather> with the twilio library's VoiceResponse and
returns it as text/xml. No signature check and no state: the sample's ceiling is the framework's and the TwiML
builder's, which is the point of comparing with it.

    gunicorn -w 2 bench.peers.twilio_sample:app
"""

from flask import Flask, Response, url_for
from twilio.twiml.voice_response import VoiceResponse

app = Flask(__name__)


@app.route("/ivr/welcome", methods=["POST"])
def welcome():
    response = VoiceResponse()
    with response.gather(num_digits=1, action=url_for("menu"), method="POST") as g:
        g.say(
            message="Thanks for calling the E T Phone Home Service. "
            + "Please press 1 for directions."
            + "Press 2 for a list of planets to call.",
            loop=3,
        )
    return twiml(response)


@app.route("/ivr/menu", methods=["POST"])
def menu():
    response = VoiceResponse()
    response.say("Returning to the main menu")
    response.redirect(url_for("welcome"))
    return twiml(response)


def twiml(resp):
    resp = Response(str(resp))
    resp.headers["Content-Type"] = "text/xml"
    return resp
