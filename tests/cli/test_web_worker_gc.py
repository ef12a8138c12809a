"""What a web worker holds once its app is built is frozen out of the garbage collector's view: a full collection
then walks what requests allocate (one over everything took 90 ms while every request in flight waited)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def unfrozen_afterwards() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_a_web_worker_freezes_what_its_app_holds_once_built(unfrozen_afterwards: None, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Importing the configuration points prometheus-client at a metrics folder when none is set: a folder of this
    # test's own, unset again afterwards (later tests' apps would otherwise count into it).
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    from ivr import gunicorn_conf

    gc.unfreeze()
    held = [{"prepared": i} for i in range(1000)]  # stands for the app a worker has just built
    gunicorn_conf.post_worker_init(None)
    assert gc.get_freeze_count() >= len(held)
    gc.collect()
    assert gc.get_freeze_count() >= len(held)  # a full collection leaves them frozen, unscanned


class _Untouchable:
    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the access log read {name}")


def test_gunicorn_builds_no_access_line_because_the_app_writes_its_own(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """With a logging configuration set, gunicorn's own logger builds every request's access line (a dictionary of
    its headers and environ) for a logger that drops it. The configuration's logger reads nothing of the request."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    from ivr import gunicorn_conf

    cfg = Config()
    cfg.set("logconfig_dict", gunicorn_conf.logconfig_dict)
    cfg.set("logger_class", gunicorn_conf.logger_class)
    untouchable = _Untouchable()
    # Built without setup(): that would apply the logging configuration to this test process.
    ours = object.__new__(cfg.logger_class)
    ours.cfg = cfg
    ours.access(untouchable, untouchable, {}, 0.001)
    theirs = object.__new__(Logger)
    theirs.cfg = cfg
    with pytest.raises(AssertionError, match="the access log read"):
        theirs.access(untouchable, untouchable, {}, 0.001)


def test_workers_that_cannot_share_their_abuse_limits_are_named_at_start(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    from ivr.gunicorn_conf import unshared_limits

    assert unshared_limits(1, "memory://") is None
    assert unshared_limits(5, "redis://127.0.0.1:6379") is None
    warning = unshared_limits(5, "memory://")
    assert warning is not None and "5 times looser" in warning and "RATELIMIT_STORAGE_URL" in warning
