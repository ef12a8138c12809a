"""Persian callers hear real audio: `ivr prompts render` speaks every text prompt with espeak-ng, the menu plays it,
and a prompt without audio falls back to <Say>."""

from __future__ import annotations

import os
import shutil
import wave
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from config.settings import EXAMPLE_CONFIG
from tests.support.phone import Caller

PERSIAN_LINE = "+982191000000"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example menu's Persian prompts, rendered once through the CLI as an operator would."""
    if shutil.which("espeak-ng") is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("espeak-ng is missing (scripts/install-system-packages.sh installs it; required in CI)")
        pytest.skip("espeak-ng not installed: run scripts/install-system-packages.sh")
    from cli.main import cli

    out = tmp_path_factory.mktemp("prompts")
    result = CliRunner().invoke(
        cli, ["prompts", "render", "--language", "fa", "--config", str(EXAMPLE_CONFIG), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "rendered" in result.output
    return out


def test_rendering_writes_a_playable_wav_for_every_persian_prompt(rendered: Path) -> None:
    files = sorted((rendered / "fa").glob("*.wav"))
    assert len(files) >= 5
    for path in files:
        with wave.open(str(path)) as audio:
            assert audio.getnframes() / audio.getframerate() > 0.3  # a spoken sentence, not an empty file
    assert not list(rendered.glob("en/*.wav"))  # only the language asked for


def test_rendering_again_skips_what_is_already_there(rendered: Path) -> None:
    from cli.main import cli

    before = {p: p.stat().st_mtime_ns for p in (rendered / "fa").glob("*.wav")}
    result = CliRunner().invoke(
        cli, ["prompts", "render", "--language", "fa", "--config", str(EXAMPLE_CONFIG), "--out", str(rendered)]
    )
    assert result.exit_code == 0 and "rendered 0 prompt(s)" in result.output
    assert {p: p.stat().st_mtime_ns for p in (rendered / "fa").glob("*.wav")} == before


def _persian_app(app_config: dict[str, Any], sqlite_db: Any, centre: Any, clock: Any, prompts: Path) -> Any:
    from ivr.app import create_app

    return create_app(
        {**app_config, "DATABASE": sqlite_db, "CENTRE": centre, "CLOCK": clock, "IVR_PROMPTS_DIR": str(prompts)}
    )


def test_a_persian_caller_hears_the_rendered_audio_and_it_is_served(
    rendered: Path, app_config: dict[str, Any], sqlite_db: Any, centre: Any, clock: Any
) -> None:
    app = _persian_app(app_config, sqlite_db, centre, clock, rendered)
    caller = Caller(app.test_client(), app, called=PERSIAN_LINE).dial()
    plays = [p.text for p in caller.last.root.iter("Play")]
    assert plays, caller.last.body
    assert all(url.startswith("https://support.example.com/ivr/prompts/fa/") for url in plays)
    # The menu still listens for keys and speech while the audio plays.
    assert caller.last.root.find("Gather/Play") is not None
    audio = app.test_client().get(plays[0].removeprefix("https://support.example.com"))
    try:
        assert audio.status_code == 200 and audio.mimetype == "audio/wav"
        assert audio.data[:4] == b"RIFF"
    finally:
        audio.close()


def test_without_rendered_audio_the_menu_falls_back_to_say(
    app_config: dict[str, Any], sqlite_db: Any, centre: Any, clock: Any, tmp_path: Path
) -> None:
    app = _persian_app(app_config, sqlite_db, centre, clock, tmp_path / "none")
    caller = Caller(app.test_client(), app, called=PERSIAN_LINE).dial()
    assert not list(caller.last.root.iter("Play"))
    say = caller.last.root.find("Gather/Say")
    assert say is not None and say.get("language") == "fa-IR" and "۰" in say.text


def test_a_missing_audio_file_is_404_not_a_crash(app_config, sqlite_db, centre, clock, tmp_path) -> None:
    app = _persian_app(app_config, sqlite_db, centre, clock, tmp_path)
    assert app.test_client().get("/ivr/prompts/fa/nope.wav").status_code == 404
    assert app.test_client().get("/ivr/prompts/fa/..%2F..%2Fsecret_key").status_code == 404
