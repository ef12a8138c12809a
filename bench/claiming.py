"""`python -m bench claiming`: see bench/dispatch.py."""

from bench.dispatch import claiming as main

__all__ = ["main"]
