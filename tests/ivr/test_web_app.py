"""The web app's Flask: hooks and views written with `def` are run as written, without asking `inspect` on every
request; anything else still goes through Flask."""

from __future__ import annotations

from typing import Any


def test_a_def_hook_is_run_as_written_and_an_async_one_is_never_taken_for_one(app: Any) -> None:
    def plain() -> str:
        return "said"

    async def later() -> str:
        return "said"

    assert app.ensure_sync(plain) is plain
    try:
        run = app.ensure_sync(later)
    except RuntimeError as exc:  # Flask runs `async def` only with its "async" extra installed, and says so
        assert "async" in str(exc)
    else:
        assert run is not later and run() == "said"
