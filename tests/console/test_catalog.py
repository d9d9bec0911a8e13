"""The dashboard's words are a gettext catalog (issue 26, item 3): every word the code and the
templates mark is extracted by Babel and translated in zh_CN's messages.po; plural forms and
locale numbers come from the catalog and Babel; the engine's words the pages show are in it."""

from __future__ import annotations

import io

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from console import i18n
from flows.kinds import KINDS
from flows.states import RUN_STATES, STATES
from runbooks.models import EVENTS
from tests.conftest import ROOT

PO = ROOT / "console" / "locale" / "zh_CN" / "LC_MESSAGES" / "messages.po"
METHODS = [("console/**.py", "python"), ("console/templates/**.html", "jinja2")]


def extracted() -> set[str]:
    found = extract_from_dir(
        str(ROOT), METHODS, keywords={"_": None, "N_": None, "ngettext": (1, 2)}, strip_comment_tags=True
    )
    return {m[2] if isinstance(m[2], str) else m[2][0] for m in found if m[2]}


def test_every_extracted_word_is_translated_in_the_chinese_catalog():
    with open(PO, "rb") as f:
        catalog = read_po(f)
    translated = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id and m.string}
    words = extracted()
    assert len(words) > 200
    assert sorted(words - translated) == []


def test_the_engine_words_the_pages_show_are_in_the_catalog():
    _ = i18n.translator("zh-CN")
    untranslated = [w for w in (*STATES, *RUN_STATES, *KINDS, *EVENTS) if _(w) == w]
    assert untranslated == []


def test_plural_forms_and_locale_numbers():
    assert i18n.plural("en")("%(num)d step", "%(num)d steps", 1) == "1 step"
    assert i18n.plural("en")("%(num)d step", "%(num)d steps", 3) == "3 steps"
    assert i18n.plural("zh-CN")("%(num)d step", "%(num)d steps", 3) == "3 个步骤"
    assert i18n.percent(0.9, "zh-CN") == "90%" and i18n.percent(0.9, "en") == "90%"


def test_the_catalog_compiles_with_babel():
    from babel.messages.mofile import write_mo

    with open(PO, "rb") as f:
        catalog = read_po(f)
    out = io.BytesIO()
    write_mo(out, catalog)
    assert out.getvalue()[:4] in (b"\xde\x12\x04\x95", b"\x95\x04\x12\xde")
