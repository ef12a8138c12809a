"""`python -m bench dialing`: see bench/dispatch.py."""

from bench.dispatch import dialing as main

__all__ = ["main"]
