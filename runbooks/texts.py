"""Texts stage: a human text as written (`"…"` or `{en: "…", zh-CN: "…"}`) → `Texts`, a string
that carries every language it was written in.

A `Texts` *is* its English string, so every reader that knows nothing of languages (a log line,
an audit row, a did-you-mean) keeps working; a reader that does calls `text_in(value, lang)`.
A plain string stays a plain string: every runbook written before texts were bilingual is
unchanged. JSON keeps both (`text_json`), and `text_of` reads them back (a run's site snapshot).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic_core import PydanticCustomError

from .diagnostics import did_you_mean

LANGS = ("en", "zh-CN")


class Texts(str):
    """The English text (what `str()` and `==` see), with `by_lang`: language → text."""

    by_lang: Mapping[str, str]

    def __new__(cls, by_lang: Mapping[str, str]) -> Texts:
        made = super().__new__(cls, by_lang["en"])
        made.by_lang = dict(by_lang)
        return made

    def __reduce__(self) -> tuple[Any, ...]:
        return (Texts, (dict(self.by_lang),))

    def __deepcopy__(self, memo: dict) -> Texts:
        return self

    def __copy__(self) -> Texts:
        return self

    def pick(self, lang: str | None) -> str:
        return self.by_lang.get(lang or "en") or self.by_lang["en"]


def text_in(value: Any, lang: str | None) -> Any:
    """The text in `lang` (English where it was not written in it); anything else as it is."""
    return value.pick(lang) if isinstance(value, Texts) else value


def text_json(value: Any) -> Any:
    """For JSON: a bilingual text as `{en, zh-CN}`, a plain one as its string."""
    return dict(value.by_lang) if isinstance(value, Texts) else value


def text_of(value: Any) -> Any:
    """`text_json`'s inverse: `{en: …}` → Texts; anything else as it is."""
    if isinstance(value, Mapping) and isinstance(value.get("en"), str):
        return Texts(value)
    return value


def map_text(value: Any, render: Callable[[str], Any]) -> Any:
    """`render` applied to each language's text (expressions rendered per language)."""
    if isinstance(value, Texts):
        return Texts({lang: str(render(text)) for lang, text in value.by_lang.items()})
    return render(value)


def localized(value: Any, lang: str | None) -> Any:
    """Every Texts inside mappings and lists → its text in `lang` (a message's data, a page's)."""
    if isinstance(value, Texts):
        return value.pick(lang)
    if isinstance(value, Mapping):
        return {k: localized(v, lang) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [localized(v, lang) for v in value]
    return value


def all_texts(value: Any) -> tuple[str, ...]:
    """Every language's text (an SMS reply may match any of them)."""
    return tuple(value.by_lang.values()) if isinstance(value, Texts) else (str(value),)


def _lang_hint(key: str) -> str:
    """`zh`, `zh_CN` or `ZH-cn` → did you mean "zh-CN"?"""
    same = [lang for lang in LANGS if lang.lower().split("-")[0] == key.lower().replace("_", "-").split("-")[0]]
    if same:
        return f'did you mean "{same[0]}"?'
    return did_you_mean(key, LANGS) or "write the English text under en: and the Chinese under zh-CN:"


def check_text(value: Any) -> str:
    """The pydantic validator of a human text: a string, or a mapping of known languages to
    strings with English among them. The errors' types are mapped to RB580/RB581 by shape.py."""
    if isinstance(value, Texts | str):
        return value
    if not isinstance(value, Mapping):
        # The type pydantic gives a non-string, so the message and its quoting hint stay the same.
        raise PydanticCustomError("string_type", "Input should be a valid string")
    unknown = [k for k in value if k not in LANGS]
    if unknown:
        key = str(unknown[0])
        raise PydanticCustomError(
            "text_lang",
            'unknown language "{key}" in a text (languages: {langs})',
            {"key": key, "langs": ", ".join(LANGS), "hint": _lang_hint(key)},
        )
    bad = [k for k, v in value.items() if not isinstance(v, str)]
    if bad:
        raise PydanticCustomError("text_type", 'the "{key}" text is not a string', {"key": bad[0]})
    if "en" not in value:
        raise PydanticCustomError(
            "text_en",
            "a text in {langs} has no English (en:), which every reader falls back to",
            {"langs": ", ".join(value) or "no language"},
        )
    return Texts(value)


def _labels(value: Any) -> bool:
    """A mapping of labels (a roll call's options): strings only, one of them bilingual."""
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(v, str) for v in value.values())
        and any(isinstance(v, Texts) for v in value.values())
    )


def localize_json(value: Any, lang: str) -> Any:
    """Each Texts → its text in `lang`; an object holding one gets `texts: {key: {en, zh-CN}}`
    (a map of labels: `texts: {key: {option: {en, zh-CN}}}`). Plain strings are left as they are."""
    if isinstance(value, Texts):
        return value.pick(lang)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        texts: dict[str, Any] = {}
        for k, v in value.items():
            if isinstance(v, Texts):
                out[k], texts[k] = v.pick(lang), text_json(v)
            elif _labels(v):
                out[k] = {o: (t.pick(lang) if isinstance(t, Texts) else t) for o, t in v.items()}
                texts[k] = {o: text_json(t) for o, t in v.items()}
            else:
                out[k] = localize_json(v, lang)
        if texts and "texts" not in out:
            out["texts"] = texts
        return out
    if isinstance(value, list | tuple):
        return [localize_json(v, lang) for v in value]
    return value


# JSON Schema of a human text, for editors (`runbook schema`).
TEXT_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string"},
        {
            "type": "object",
            "properties": {lang: {"type": "string"} for lang in LANGS},
            "required": ["en"],
            "additionalProperties": False,
        },
    ],
    "description": "a text, or one per language: {en: …, zh-CN: …} (en required)",
}
