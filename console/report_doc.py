"""Report edge: a run's report (flows/report.py's JSON) → HTML for people (the dashboard's page,
or a standalone document) and PDF through WeasyPrint, in English or Simplified Chinese (a CJK
font from Debian's fonts-wqy-zenhei draws the Chinese). Charts are server-drawn SVG
(console/charts.py); nothing is fetched while rendering: the PDF's URL fetcher refuses all."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from flows.errors import Invalid

from . import charts, i18n
from .pages import render_page

CSS = Path(__file__).parent / "static" / "report.css"
FORMATS = ("json", "html", "pdf")


def lang_for(data: dict[str, Any], lang: str | None) -> str:
    """The language asked for, else the site's (else English)."""
    if lang is not None and lang not in i18n.LANGS:
        raise Invalid(f'unknown language "{lang}" (languages: {", ".join(i18n.LANGS)})')
    site = data["run"].get("lang")
    return lang or (site if site in i18n.LANGS else "en")


def chart_context(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "bars": charts.duration_bars(data["steps"]),
        "curves": [charts.response_curve(rc) for rc in data["roll_calls"]],
    }


def _words(lang: str) -> dict[str, Any]:
    return {"_": i18n.translator(lang), "local": i18n.local_time, "dur": i18n.duration, "lang": lang}


@lru_cache(maxsize=1)
def _css() -> str:
    return CSS.read_text(encoding="utf-8")


def report_html(data: dict[str, Any], lang: str) -> str:
    """A standalone HTML document (its CSS inline): for `runbook report --format html`."""
    title = f"{i18n.translator(lang)('After-action report')} · {data['run']['name']}"
    return render_page("report_doc.html", data=data, title=title, css=_css(), **chart_context(data), **_words(lang))


def _refuse(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    raise ValueError(f"the report fetches nothing ({url})")


def report_pdf(data: dict[str, Any], lang: str) -> bytes:
    """The same document as PDF (A4, page numbers)."""
    from weasyprint import CSS as WeasyCSS  # type: ignore[import-untyped]
    from weasyprint import HTML

    title = f"{i18n.translator(lang)('After-action report')} · {data['run']['name']}"
    page = render_page("report_doc.html", data=data, title=title, css="", **chart_context(data), **_words(lang))
    pdf: bytes = HTML(string=page, url_fetcher=_refuse).write_pdf(stylesheets=[WeasyCSS(string=_css())])
    return pdf
