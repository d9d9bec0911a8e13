"""The dashboard's words in English and Simplified Chinese, and which one a request gets: the
user's choice (cookie `rb_lang`), else the browser's Accept-Language, else English. The words
are gettext catalogs managed with Babel (`console/locale/zh_CN/LC_MESSAGES/messages.po`,
`scripts/i18n extract|update|compile`), compiled in memory at first use; plural forms through
`plural(lang)`. Times are shown in the site's zone with its abbreviation."""

from __future__ import annotations

import functools
import gettext
import io
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LANGS = ("en", "zh-CN")
COOKIE = "rb_lang"

LOCALE = Path(__file__).parent / "locale"
CATALOGS = {"zh-CN": "zh_CN"}  # a page's language → its catalog under console/locale/


def N_(text: str) -> str:
    """Marks a word for extraction (scripts/i18n extract) where it is translated later."""
    return text


# The engine's own words the pages show (states, step kinds, funnel stages, events, audit and
# check-off actions): translated where shown (`_(task.state)`), listed here for extraction.
ENGINE_WORDS = (
    N_("pending"), N_("ready"), N_("running"), N_("waiting"), N_("done"), N_("failed"), N_("rejected"),
    N_("skipped"), N_("cancelled"), N_("completed"), N_("active"), N_("manual"), N_("approval"), N_("muster"),
    N_("allocate"), N_("http"), N_("notify"), N_("wait"), N_("calls"), N_("answered"), N_("laptop"),
    N_("setup"), N_("training"), N_("go_live"), N_("site.lockdown"), N_("site.standdown"), N_("run.started"),
    N_("run.completed"), N_("run.failed"), N_("run.cancelled"), N_("run.update"), N_("task.assigned"),
    N_("task.reminder"), N_("task.overdue"), N_("task.escalated"), N_("task.done"), N_("task.failed"),
    N_("task.cancelled"), N_("approval.requested"), N_("muster.request"), N_("muster.answer"),
    N_("muster.closed"), N_("objective.reached"), N_("objective.at_risk"), N_("coverage.gap"), N_("message"),
    N_("event"), N_("access.denied"), N_("account.add"), N_("account.revoke"), N_("audit.key.rotate"),
    N_("audit.migrate"), N_("audit.reanchor"), N_("outbox.retry"), N_("pool.restock"), N_("calls.done"),
    N_("muster.close"), N_("pool.allocate"), N_("pool.release"), N_("pool.return"), N_("pool.shortage"),
    N_("pool.swap"), N_("run.cancel"), N_("run.reopen"), N_("run.start"), N_("task.add"), N_("task.complete"),
    N_("task.reassign"), N_("task.retry"), N_("task.retry_scheduled"), N_("task.skip"), N_("task.start"),
    N_("complete"), N_("approve"), N_("reject"), N_("shifts"), N_("shifts.assigned"), N_("planned"),
    N_("declined"), N_("replaced"), N_("shifts.planned"), N_("shifts.replan"), N_("shift.swapped"),
    N_("loan.request"), N_("loan.accept"), N_("loan.refuse"), N_("loan.recall"), N_("loan"), N_("loan.requested"),
)  # fmt: skip

_ZH: dict[str, str] = {}  # words added in code before they reach the catalog (the catalog wins)


@functools.cache
def catalog(lang: str) -> gettext.NullTranslations:
    """The language's gettext catalog: its .po compiled in memory at first use (Babel), so a
    checkout needs no build step and the .po stays the one source (scripts/i18n)."""
    name = CATALOGS.get(lang)
    po = LOCALE / name / "LC_MESSAGES" / "messages.po" if name else None
    if po is None or not po.is_file():
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with open(po, "rb") as f:
        parsed = read_po(f, locale=name, domain="messages")
    compiled = io.BytesIO()
    write_mo(compiled, parsed)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def pick(query: str | None, cookie: str | None, accept: str | None) -> str:
    for choice in (query, cookie):
        if choice in LANGS:
            return choice
    for part in (accept or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return "en"


def translator(lang: str) -> Callable[[str], str]:
    """`_` of a page: a word in `lang` (the catalog's, else the code's table, else itself)."""
    if lang not in CATALOGS:
        return lambda text: text
    found = catalog(lang)
    extra = _ZH

    def translate(text: str) -> str:
        out = found.gettext(text)
        return extra.get(text, text) if out == text else out

    return translate


def plural(lang: str) -> Callable[[str, str, int], str]:
    """`ngettext` of a page, formatted: `ngettext("%(num)d step", "%(num)d steps", n)`."""
    found = catalog(lang) if lang in CATALOGS else gettext.NullTranslations()
    return lambda one, many, n: found.ngettext(one, many, n) % {"num": n}


def percent(value: float, lang: str) -> str:
    """A share for people in the page's locale: 90% (not 0.9)."""
    from babel.numbers import format_percent

    return format_percent(value, locale=CATALOGS.get(lang, "en"))


def local_time(value: str | datetime | None, tz: str, with_date: bool = True, seconds: bool = False) -> str:
    """An ISO time from the store (UTC) → the site's local time with its zone's abbreviation,
    e.g. `12-23 08:05 CST` (`seconds`: `12-23 08:05:09 CST`; without the date: `08:05:09 CST`).
    One clock on every page; the JSON stays ISO 8601 in UTC."""
    if not value:
        return "–"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    try:
        moment = moment.astimezone(ZoneInfo(tz))
    except ZoneInfoNotFoundError:
        pass
    if not with_date:
        return moment.strftime("%H:%M:%S %Z").strip()
    return moment.strftime("%m-%d %H:%M:%S %Z" if seconds else "%m-%d %H:%M %Z").strip()


def zone_abbreviation(tz: str) -> str:
    """The zone's abbreviation now (`CST` for Asia/Shanghai), as the pages print it."""
    try:
        return datetime.now(ZoneInfo(tz)).strftime("%Z")
    except ZoneInfoNotFoundError:
        return tz


def feed_words(lang: str) -> dict[str, str]:
    """The live feed's words (events and states) in `lang`, for /static/app.js."""
    if lang != "zh-CN":
        return {}
    from flows.states import RUN_STATES, STATES
    from runbooks.models import EVENTS

    names = [*EVENTS, "muster.answer", "muster.closed", *STATES, *RUN_STATES]
    _ = translator(lang)
    return {n: _(n) for n in names if _(n) != n}


def duration(seconds: int | float | None, lang: str = "en") -> str:
    if seconds is None:
        return "–"
    sign = "-" if seconds < 0 else ""
    s = int(abs(seconds))
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    units = ("天", "小时", "分") if lang == "zh-CN" else ("d", "h", "m")
    if d:
        return f"{sign}{d}{units[0]}{h}{units[1]}"
    if h:
        return f"{sign}{h}{units[1]}{m}{units[2]}"
    return f"{sign}{m}{units[2]}" if m else f"{sign}{s}s"
