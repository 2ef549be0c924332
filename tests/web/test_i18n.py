"""The Arabic catalog: complete, well-formed, and compiled from the current .po."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "grp" / "translations" / "ar" / "LC_MESSAGES"


def _hashable(value):
    return value if isinstance(value, str) else tuple(value)


def translations(catalog) -> dict:
    return {_hashable(m.id): _hashable(m.string) for m in catalog if m.id and not m.fuzzy}


@pytest.fixture(scope="module")
def po():
    with (CATALOG / "messages.po").open("rb") as handle:
        return read_po(handle, locale="ar")


def test_compiled_catalog_matches_the_po_file(po):
    """Fails when messages.po changed without `pybabel compile -d grp/translations`."""
    with (CATALOG / "messages.mo").open("rb") as handle:
        mo = read_mo(handle)
    assert translations(mo) == translations(po), (
        "messages.mo is out of date: run .venv/bin/pybabel compile -d grp/translations"
    )


def test_every_entry_is_translated_and_none_is_fuzzy(po):
    untranslated = [
        m.id
        for m in po
        if m.id and (m.fuzzy or not m.string or (isinstance(m.string, tuple) and not all(m.string)))
    ]
    assert not untranslated
    assert po.num_plurals == 6  # Arabic: zero, one, two, few, many, other


def test_translations_keep_their_placeholders(po):
    problems = [(m.id, [str(e) for e in errors]) for m, errors in po.check() if errors]
    assert not problems


def test_every_string_in_the_code_has_an_arabic_translation(po):
    """Fails when a new `_()` string was added without updating messages.po."""
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    keywords = {**DEFAULT_KEYWORDS, "_l": None}
    in_code = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(
            ROOT, method_map, options_map, keywords=keywords, strip_comment_tags=True
        )
    }
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in po if m.id}
    assert in_code, "extraction found nothing; check babel.cfg"
    assert not sorted(in_code - known), "run pybabel extract/update and translate"
