"""The words are gettext catalogues: `pybabel extract` finds every sentence the pages, the console, the reports and
the digest show, and every one of them has a finished Persian translation with the same {fields}."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from callbacks import i18n
from callbacks.i18n import CATALOGUES_DIR, Catalogues, fields, ptranslate, translate
from tests.conftest import ROOT

PERSIAN = CATALOGUES_DIR / "fa" / "LC_MESSAGES" / "messages.po"
TEMPLATE = CATALOGUES_DIR / "messages.pot"
Key = tuple[str | None, str]


def read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def msgids(catalog: Catalog) -> set[Key]:
    return {(m.context, m.id) for m in catalog if m.id and isinstance(m.id, str)}


def problems(extracted: Catalog, translated: Catalog) -> list[str]:
    """What stops a catalogue from covering the sentences the code uses: missing, empty or fuzzy translations,
    {fields} that differ from the English, and entries nothing uses any more."""
    found = []
    entries = {(m.context, m.id): m for m in translated if m.id and isinstance(m.id, str)}
    for key in sorted(msgids(extracted), key=str):
        message = entries.get(key)
        if message is None:
            found.append(f"missing: {key}")
        elif not message.string:
            found.append(f"not translated: {key}")
        elif message.fuzzy:
            found.append(f"fuzzy: {key}")
        elif fields(str(message.string)) != fields(key[1]):
            found.append(f"fields differ: {key} -> {message.string!r}")
    found += [f"used nowhere: {key}" for key in sorted(set(entries) - msgids(extracted), key=str)]
    return found


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """What `pybabel extract` (configured in pyproject.toml) finds in the code and templates now."""
    out = tmp_path_factory.mktemp("extract") / "messages.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    done = subprocess.run([str(pybabel), "extract", "-o", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return read(out)


def test_extraction_finds_sentences_in_templates_python_tables_and_contexts(extracted: Catalog) -> None:
    found = msgids(extracted)
    assert (None, "Skip to content") in found  # a template's _()
    assert ("count of callbacks", "Requested") in found  # a template's pgettext()
    assert (None, "Please enter your phone number.") in found  # a table marked with N_()
    assert ("callback status", "Missed") in found  # ptranslate() in Python
    assert (None, "{agents} more agents until {time} would keep every promise.") in found  # translate()
    assert (None, "Open now: {open}, at risk now: {at_risk}") in found  # the worker's daily digest


def test_every_sentence_the_code_uses_has_a_finished_persian_translation(extracted: Catalog) -> None:
    assert problems(extracted, read(PERSIAN, "fa")) == []


def test_the_shipped_template_is_what_extraction_finds_now(extracted: Catalog) -> None:
    # A translator starts a new language from it (`pybabel init -l de`): run `pybabel extract` after changing words.
    assert msgids(read(TEMPLATE)) == msgids(extracted)


def test_a_missing_empty_fuzzy_or_misfielded_translation_is_reported(extracted: Catalog) -> None:
    persian = read(PERSIAN, "fa")
    [(_, first), (_, second), (_, third), (_, fourth)] = sorted(
        key for key in msgids(extracted) if key[0] is None and fields(key[1]))[:4]
    del persian[first]
    persian[second].string = ""
    persian[third].flags.add("fuzzy")
    persian[fourth].string = "{wrong}"
    persian.add("A sentence nobody says any more", "جمله‌ای که دیگر کسی نمی‌گوید")
    assert sorted(problems(extracted, persian)) == sorted([
        f"missing: {(None, first)}", f"not translated: {(None, second)}", f"fuzzy: {(None, third)}",
        f"fields differ: {(None, fourth)} -> '{{wrong}}'", "used nowhere: (None, 'A sentence nobody says any more')"])


def test_english_is_the_msgid_and_persian_numbers_use_persian_digits() -> None:
    assert translate("{count} missed callbacks", "en", count=12) == "12 missed callbacks"
    assert translate("{count} missed callbacks", "fa", count=12) == "۱۲ تماس برگشتی ازدست‌رفته"
    # Same English, different Persian: told apart by the msgctxt.
    assert translate("Missed", "fa") == "ازدست‌رفته"
    assert ptranslate("callback status", "Missed", "fa") == "از دست رفت"
    # No catalogue, or no translation in it: the English text.
    assert translate("Live board", "xx") == "Live board"
    assert translate("A sentence we never translated", "fa") == "A sentence we never translated"


def test_a_fuzzy_translation_is_not_shown(tmp_path: Path) -> None:
    catalog = Catalog(locale="de")
    catalog.add("Live board", "Live-Tafel")
    catalog.add("Log in", "Vielleicht", flags=["fuzzy"])
    folder = tmp_path / "de" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "messages.po").open("wb") as handle:
        write_po(handle, catalog)
    found = Catalogues(tmp_path)
    previous = i18n.use_catalogues(found)
    try:
        assert found.languages() == ("de", "en")
        assert translate("Live board", "de") == "Live-Tafel"
        assert translate("Log in", "de") == "Log in"
    finally:
        i18n.use_catalogues(previous)


def test_languages_are_the_catalogues_and_english() -> None:
    assert i18n.languages() == ("fa", "en")
    assert i18n.direction("fa") == "rtl" and i18n.direction("ar") == "rtl" and i18n.direction("de") == "ltr"
    assert i18n.language_name("fa") == "فارسی" and i18n.language_name("de") == "Deutsch"
