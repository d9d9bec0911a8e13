"""The report and findings over the API (a real socket): the JSON of `runbook report`, the PDF
in English and Chinese (pages, the objectives table, glyphs drawn), the HTML document as a
download; findings added and closed by a manager only, listed for readers; bad input is 4xx."""

from __future__ import annotations

from tests.support.report_checks import assert_pdf_is_drawn, pdf_text


def started_lab_run(api) -> str:
    run = api.start("human_response")
    assert api.call("manager", "POST", f"/api/runs/{run}/tasks/declare/approve", json={}).status_code == 200
    return run


def test_the_report_as_json_pdf_and_html_for_readers(api, tmp_path):
    run = started_lab_run(api)
    data = api.call("viewer", "GET", f"/api/runs/{run}/report").json()
    assert data["run"]["id"] == run and {o["id"]: o["outcome"] for o in data["objectives"]} == {"verified": "open"}
    assert {s["id"]: s["done"] for s in data["steps"]}["declare"] == 1
    for lang, words in (
        ("en", ["After-action report", "Objectives", "Target", "Systems verified"]),
        ("zh-CN", ["事后总结报告", "目标值", "Systems verified"]),
    ):
        r = api.call("viewer", "GET", f"/api/runs/{run}/report", params={"format": "pdf", "lang": lang})
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
        pages, text = pdf_text(r.content)
        assert pages >= 1 and all(w in text for w in words), (lang, text[:400])
        assert_pdf_is_drawn(r.content, chinese=lang == "zh-CN", png=str(tmp_path / f"report-{lang}.png"))
    html = api.call("viewer", "GET", f"/api/runs/{run}/report", params={"format": "html"})
    assert html.status_code == 200 and "attachment" in html.headers["content-disposition"]
    assert "<style>" in html.text and "Systems verified" in html.text
    assert api.call("viewer", "GET", f"/api/runs/{run}/report", params={"format": "docx"}).status_code == 422
    assert (
        api.call("viewer", "GET", f"/api/runs/{run}/report", params={"format": "pdf", "lang": "fr"}).status_code == 422
    )
    assert api.call("viewer", "GET", "/api/runs/rnope/report").status_code == 404
    assert api.call(None, "GET", f"/api/runs/{run}/report").status_code == 401


def test_findings_are_a_managers_and_readers_see_them(api):
    run = started_lab_run(api)
    body = {"observation": "Sign-off slow", "recommendation": "A second approver", "owner": "team:it", "due": "14d"}
    assert api.call("lead_it", "POST", f"/api/runs/{run}/findings", json=body).status_code == 403
    bad = api.call("manager", "POST", f"/api/runs/{run}/findings", json={**body, "owner": "team:nobody"})
    assert bad.status_code == 422 and "not a team" in bad.json()["error"]["message"]
    assert api.call("manager", "POST", f"/api/runs/{run}/findings", json={**body, "extra": 1}).status_code == 422
    made = api.call("manager", "POST", f"/api/runs/{run}/findings", json=body, headers={"Idempotency-Key": "k1"})
    again = api.call("manager", "POST", f"/api/runs/{run}/findings", json=body, headers={"Idempotency-Key": "k1"})
    assert made.status_code == 201 and again.json()["id"] == made.json()["id"], "a retried POST records one"
    fid = made.json()["id"]
    listed = api.call("viewer", "GET", "/api/sites/lab/findings", params={"open": "true"}).json()
    assert [f["id"] for f in listed["findings"]] == [fid]
    assert [f["id"] for f in api.call("viewer", "GET", f"/api/runs/{run}/report").json()["findings"]] == [fid]
    assert api.call("viewer", "POST", f"/api/findings/{fid}/close", json={"reason": "x"}).status_code == 403
    assert api.call("manager", "POST", f"/api/findings/{fid}/close", json={}).status_code == 422
    closed = api.call("manager", "POST", f"/api/findings/{fid}/close", json={"reason": "second approver named"})
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    assert api.call("manager", "POST", f"/api/findings/{fid}/close", json={"reason": "again"}).status_code == 409
    assert api.call("viewer", "GET", "/api/sites/lab/findings", params={"open": "true"}).json()["findings"] == []
    assert api.call("viewer", "GET", "/api/sites/nowhere/findings").status_code == 404
