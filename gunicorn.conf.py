"""gunicorn reads ./gunicorn.conf.py when started from this folder: the project's one configuration, in the package
(`ivr/gunicorn_conf.py`) so that an installed `ivr serve` finds it too."""

from ivr.gunicorn_conf import *  # noqa: F403
