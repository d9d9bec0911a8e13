"""A bounded schemathesis run against the live OpenAPI document: requests generated from it
(valid and invalid, as a manager) get no server error and no status the document does not list. `RUNBOOK_FUZZ_EXAMPLES` sets how many
(default 1,000: 15 s on an idle machine); .ci/run reports the counts."""

from __future__ import annotations

import json
import os
import time
from collections import Counter

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import status_code_conformance


def test_generated_requests_get_no_server_error(api, capsys):
    run = api.start()
    doc = api.call("manager", "GET", "/api/openapi.json").json()
    # The event stream stays open by design (its cursors are checked in test_bad_input.py).
    schema = schemathesis.openapi.from_dict(doc).exclude(path_regex=r"/events$")
    examples = int(os.environ.get("RUNBOOK_FUZZ_EXAMPLES", "1000"))
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    contradictions: list[str] = []
    strategy = schema.as_strategy(GenerationMode.POSITIVE) | schema.as_strategy(GenerationMode.NEGATIVE)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def probe(case) -> None:
        if case.path_parameters and "run" in case.path_parameters and len(statuses) % 2:
            case.path_parameters["run"] = run  # half the cases reach a real run
        headers = {"Authorization": f"Bearer {api.tokens['manager']}"}
        response = case.call(base_url=api.url, headers=headers, timeout=10, allow_redirects=False)
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            errors.append(f"{case.method} {case.formatted_path} → {response.status_code}: {response.text[:200]}")
            return
        try:  # the status is one the document lists for the operation
            case.validate_response(response, checks=[status_code_conformance], headers=headers)
        except Exception as e:  # schemathesis's FailureGroup names the status and the ones documented
            contradictions.append(f"{case.method} {case.formatted_path} → {response.status_code}: {str(e)[:200]}")

    started = time.monotonic()
    probe()
    seconds = time.monotonic() - started
    with capsys.disabled():
        print(
            json.dumps(
                {
                    "fuzz": "openapi",
                    "requests": sum(statuses.values()),
                    "statuses": dict(statuses),
                    "seconds": round(seconds, 1),
                    "server_errors": len(errors),
                    "contradicting": len(contradictions),
                }
            )
        )
    assert errors == [], errors[:5]
    assert contradictions == [], contradictions[:5]
