"""`python -m bench tick`: see bench/dispatch.py."""

from bench.dispatch import tick as main

__all__ = ["main"]
