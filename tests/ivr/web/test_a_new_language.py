"""A translator adds a language with a `.po` file and no Python: started from the shipped template with
`pybabel init`, translated, and the public pages and the console speak it (`<html lang dir>`, the switcher, the
cookie), with untranslated sentences in English and days in the language's own words."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po, write_po

from callbacks import i18n
from callbacks.i18n import CATALOGUES_DIR, Catalogues
from config.schema import ContactCentre
from ivr.web.i18n import format_day
from tests.conftest import ROOT

GERMAN = {
    "Ask us to call you back": "Bitten Sie um Rückruf",
    "Phone number": "Telefonnummer",
    "Log in": "Anmelden",
    "Supervisor console": "Leitstand",
}


@pytest.fixture
def german(tmp_path: Path) -> Iterator[Path]:
    """The shipped catalogues plus German, made as a translator would: `pybabel init`, then an editor."""
    folder = tmp_path / "translations"
    shutil.copytree(CATALOGUES_DIR, folder)
    pybabel = Path(sys.executable).with_name("pybabel")
    done = subprocess.run([str(pybabel), "init", "-l", "de", "-d", str(folder)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    po = folder / "de" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as handle:
        catalog = read_po(handle, locale="de")
    for english, german_text in GERMAN.items():
        catalog[english].string = german_text
    with po.open("wb") as handle:
        write_po(handle, catalog)
    previous = i18n.use_catalogues(Catalogues(folder))
    yield po
    i18n.use_catalogues(previous)


@pytest.fixture
def centre(centre: ContactCentre) -> ContactCentre:
    # The centre lists German among its languages (YAML, not Python): its public pages may speak it.
    return centre.model_copy(update={"languages": [*centre.languages, "de"]})


def test_the_public_form_speaks_a_language_added_as_a_po_file(german: Path, client: Any) -> None:
    page = client.get("/callback?lang=de")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<html lang="de" dir="ltr">' in html
    assert "Bitten Sie um Rückruf" in html and "Telefonnummer" in html
    assert "Preferred time (optional)" in html  # not translated yet: English
    assert "lang=de" in page.headers["Set-Cookie"]
    # The choice sticks; the other pages offer it by its own name.
    assert "Bitten Sie um Rückruf" in client.get("/callback").get_data(as_text=True)
    persian = client.get("/callback?lang=fa").get_data(as_text=True)
    assert 'hreflang="de"' in persian and "Deutsch" in persian


def test_the_console_speaks_it_too(german: Path, client: Any) -> None:
    html = client.get("/supervisor/login?lang=de").get_data(as_text=True)
    assert '<html lang="de" dir="ltr">' in html
    assert "Anmelden" in html and "Leitstand" in html
    english = client.get("/supervisor/login?lang=en").get_data(as_text=True)
    assert 'hreflang="de"' in english and "Deutsch" in english


def test_without_the_file_the_language_is_not_offered(client: Any) -> None:
    page = client.get("/callback?lang=de", headers={"Accept-Language": "en"})
    assert '<html lang="en" dir="ltr">' in page.get_data(as_text=True)
    assert "Deutsch" not in page.get_data(as_text=True)


def test_days_are_named_in_the_new_language_from_babels_locale_data() -> None:
    assert format_day(date(2026, 11, 26), "de", date(2026, 11, 22)) == "Donnerstag 26 November"
    assert format_day(date(2026, 11, 26), "en", date(2026, 11, 22)) == "Thursday 26 November"
    assert format_day(date(2026, 11, 26), "fa", date(2026, 11, 22)) == "پنج‌شنبه ۵ آذر"
