"""Checks of an after-action report shared by the report tests and the Xi'an case: the step
durations recomputed from the store's task rows (independently of flows/report.py), and a PDF
looked at as a reader would — its pages, its text, a page rendered to pixels (pypdfium2) that
is not blank and in which Chinese characters are drawn (ink inside each glyph's box)."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import pypdfium2
import yaml


def nearest_rank(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def durations_from_store(store, run_id: str) -> dict[str, list[float]]:
    """step → seconds from actionable to done of each of its done tasks."""
    out: dict[str, list[float]] = defaultdict(list)
    with store.read() as r:
        for t in r.tasks(run_id, states=["done"]):
            if t["actionable_at"] is not None and t["ended_at"] is not None:
                out[t["step_id"]].append(round((t["ended_at"] - t["actionable_at"]).total_seconds(), 3))
    return out


def assert_step_durations_match_the_store(report: dict, store, run_id: str) -> None:
    expected = durations_from_store(store, run_id)
    steps = {s["id"]: s for s in report["steps"]}
    assert set(expected) <= set(steps)
    for step_id, values in expected.items():
        s = steps[step_id]
        assert (s["done"], s["p50_s"], s["p90_s"], s["max_s"]) == (
            len(values),
            nearest_rank(values, 0.5),
            nearest_rank(values, 0.9),
            max(values),
        ), step_id
    for step_id, s in steps.items():
        if step_id not in expected:
            assert s["done"] == 0 and s["p50_s"] is None, step_id


def pdf_text(pdf: bytes) -> tuple[int, str]:
    doc = pypdfium2.PdfDocument(pdf)
    try:
        text = "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
        return len(doc), text
    finally:
        doc.close()


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def assert_pdf_is_drawn(pdf: bytes, *, chinese: bool, png: str | None = None) -> None:
    """Page 1 rendered: not blank; with `chinese`, every one of its first 20 CJK characters has
    ink inside its box (a missing glyph would be blank or a hollow box: little ink)."""
    doc = pypdfium2.PdfDocument(pdf)
    try:
        page = doc[0]
        scale = 2.0
        image = page.render(scale=scale).to_pil().convert("L")
        if png:
            image.save(png)
        pixels = image.load()
        w, h = image.size
        dark = sum(1 for x in range(0, w, 3) for y in range(0, h, 3) if pixels[x, y] < 160)
        assert dark > 500, f"page 1 looks blank ({dark} dark samples)"
        if not chinese:
            return
        text = page.get_textpage()
        chars = {i: text.get_text_range(i, 1) for i in range(min(text.count_chars(), 600))}
        cjk = [i for i, ch in chars.items() if _is_cjk(ch)][:20]
        assert cjk, "no Chinese text on page 1"
        height = page.get_height()
        for i in cjk:
            left, bottom, right, top = text.get_charbox(i)
            box = [
                pixels[x, y]
                for x in range(int(left * scale), max(int(right * scale), int(left * scale) + 1))
                for y in range(
                    int((height - top) * scale), max(int((height - bottom) * scale), int((height - top) * scale) + 1)
                )
                if 0 <= x < w and 0 <= y < h
            ]
            inked = sum(1 for p in box if p < 128)
            assert box and inked / len(box) > 0.08, f"character {chars[i]!r} is not drawn ({inked}/{len(box)})"
    finally:
        doc.close()


def check_xian_report(cli, api, store, run_id: str, out_dir) -> dict:
    """The report of the whole Xi'an case (tests/flows/test_xian_case.py calls this once the run
    completed): the JSON from `runbook report`, its step durations against the store, every
    objective met exactly when the store's met_at is within its deadline, the roll call's
    quorum, the laptop shortage and the interventions with their reasons; then the PDF in
    English and Chinese through the CLI (and once through the API), each checked as drawn."""
    import json
    from datetime import datetime

    data = json.loads(cli("report", run_id))
    assert data["run"]["state"] == "completed" and data["run"]["lang"] == "zh-CN"
    assert_step_durations_match_the_store(data, store, run_id)
    with store.read() as r:
        met_at = r.objectives_met(run_id)
    for o in data["objectives"]:
        when = met_at.get(o["id"])
        in_time = when is not None and when <= datetime.fromisoformat(o["deadline"])
        assert o["met"] == in_time and o["outcome"] == ("met" if in_time else "missed"), o
    assert {o["id"] for o in data["objectives"] if o["met"]} >= {"agents_live", "accounted"}
    (roll,) = data["roll_calls"]
    assert roll["asked"] == 110 and roll["answered"] >= 99 and roll["time_to_quorum_s"] is not None
    assert (
        roll["curve"][roll["curve"].index(max(roll["curve"], key=lambda p: p["answered"]))]["answered"]
        == roll["answered"]
    )
    (shortage,) = data["bottlenecks"]["shortages"]
    assert shortage["pool"] == "laptops" and shortage["items"] == 8 and shortage["until"] is not None
    reasons = {(i["action"], i["reason"]) for i in data["interventions"]}
    assert ("restock", "loan from the backup site") in reasons and ("closed", "training team on leave") in reasons
    assert data["notifications"]["sent"] > 0 and "staff_sms" in data["notifications"]["channels"]
    assert data["audit"]["verified"]
    shipped = yaml.safe_load((Path(__file__).parents[2] / "runbooks/library/callcenter_lockdown.yaml").read_text())
    shipped_names = {o["id"]: o["name"] for o in shipped["objectives"] if isinstance(o["name"], dict)}
    for lang, words in (
        ("en", ["After-action report", "Objectives", "Target", "Step durations", "laptop"]),
        ("zh-CN", ["事后总结报告", "目标", "目标值", "步骤用时", "laptop"]),
    ):
        path = out_dir / f"xian-report-{lang}.pdf"
        cli("report", run_id, "--format", "pdf", "--lang", lang, "-o", str(path))
        pdf = path.read_bytes()
        pages, text = pdf_text(pdf)
        assert pages >= 2, pages
        flat = "".join(text.split())  # a cell's text may wrap onto lines
        names = [shipped_names.get(o["id"], {}).get(lang, o["name"]) for o in data["objectives"]]
        missing = [w for w in words + names if "".join(w.split()) not in flat]
        assert not missing, (lang, missing)
        assert_pdf_is_drawn(pdf, chinese=lang == "zh-CN", png=str(out_dir / f"xian-report-{lang}.png"))
    served = api("manager", "GET", f"/api/runs/{run_id}/report", params={"format": "pdf"})
    assert served.headers["content-type"] == "application/pdf" and pdf_text(served.content)[0] >= 2
    assert "事后总结报告" in pdf_text(served.content)[1], "the site's language by default"
    return data
