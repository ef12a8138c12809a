"""The web process's floor as a peer: the bare WSGI callable (`bench.peers.bare_wsgi`) in a process that has also
imported `bench.peers.floors.WEB_FLOOR` and nothing of ours. Served by gunicorn like the other peers, its worker's RSS
is what any web worker on this stack holds before it does anything.

    gunicorn -w 2 bench.peers.stack_floor:app
"""

import importlib

from bench.peers.bare_wsgi import app
from bench.peers.floors import WEB_FLOOR

for _name in WEB_FLOOR:
    importlib.import_module(_name)

__all__ = ["app"]
