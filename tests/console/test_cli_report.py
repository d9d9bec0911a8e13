"""`runbook report` and `runbook findings` on the local store: the report's JSON and PDF (to a
file; never to a terminal), findings added, listed and closed; bad input exits non-zero with a
message and records nothing."""

from __future__ import annotations

import json

from tests.support.report_checks import pdf_text


def test_report_and_findings_from_the_cli(cli, tmp_path):
    started = cli("start", "human_response", "--site", "lab", "--format", "json")
    assert started.exit_code == 0, started.output
    (run,) = [r["id"] for r in json.loads(started.stdout)["runs"]]
    data = json.loads(cli("report", run).stdout)
    assert data["run"]["id"] == run and data["objectives"][0]["outcome"] == "open"
    pdf = tmp_path / "r.pdf"
    done = cli("report", run, "--format", "pdf", "--lang", "zh-CN", "-o", str(pdf))
    assert done.exit_code == 0 and "事后总结报告" in pdf_text(pdf.read_bytes())[1]
    html = cli("report", run, "--format", "html")
    assert html.exit_code == 0 and "<style>" in html.stdout and "After-action report" in html.stdout, "lab is English"

    bad = cli(
        "findings", "add", run, "--observation", "x", "--recommendation", "y", "--owner", "team:it", "--due", "soon"
    )
    assert bad.exit_code == 1 and "--due takes a duration" in bad.output
    added = cli(
        "findings",
        "add",
        run,
        "--observation",
        "Slow",
        "--recommendation",
        "Faster",
        "--owner",
        "team:it",
        "--due",
        "14d",
    )
    assert added.exit_code == 0, added.output
    fid = added.stdout.strip()
    listed = json.loads(cli("findings", "lab", "--open", "--format", "json").stdout)
    assert [f["id"] for f in listed["findings"]] == [fid]
    assert "Slow → Faster" in cli("findings").stdout
    assert cli("findings", "close", fid).exit_code == 1, "a reason is needed"
    assert cli("findings", "close", fid, "--reason", "fixed").exit_code == 0
    assert json.loads(cli("findings", "lab", "--open", "--format", "json").stdout)["findings"] == []
    assert cli("report", "rnope").exit_code == 1
    assert cli("report", run, "--lang", "fr", "--format", "html").exit_code == 1
