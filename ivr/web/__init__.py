"""Web pieces every surface shares: errors, languages, limits, and the site's layout and stylesheet (`ui`)."""

from flask import Blueprint

ui = Blueprint("ui", __name__, template_folder="templates", static_folder="static", static_url_path="/assets")
