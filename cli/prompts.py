"""`ivr prompts render`: audio for prompts in languages Twilio cannot speak."""

from __future__ import annotations

from pathlib import Path

import click

from ivr.phone.prompts import EspeakMissing, render_all


@click.group("prompts")
def prompts_cli() -> None:
    """Prompt audio for languages Twilio cannot speak."""


@prompts_cli.command("render")
@click.option("--language", "languages", multiple=True, help="Only these languages (default: all).")
@click.option("--force", is_flag=True, help="Render again even when the file exists.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None, help="Contact-centre YAML.")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Directory (default: instance/prompts).")
def render_command(languages: tuple[str, ...], force: bool, config_path: str | None, out: str | None) -> None:
    """Render every text prompt without audio into WAV files (espeak-ng); the menu plays them."""
    from config import load_contact_centre, load_settings

    settings = load_settings()
    centre = load_contact_centre(config_path or settings.ivr_config)
    directory = Path(out) if out else settings.instance_path / "prompts"
    try:
        written = render_all(centre, directory, list(languages) or None, force)
    except EspeakMissing as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"rendered {len(written)} prompt(s) into {directory}")
