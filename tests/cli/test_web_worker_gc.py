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
