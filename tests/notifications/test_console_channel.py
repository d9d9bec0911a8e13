"""The console channel: a personal link is in `console.jsonl` (mode 600, for the local operator)
but never on stdout, which ends up in logs; the API's error log redacts link tokens too."""

from __future__ import annotations

import json
import stat

from notifications.channels import console
from notifications.channels.base import Outgoing
from notifications.redact import redact_links

TOKEN = "Zk3vQ9wXb2LmN8pR"


def test_a_personal_link_goes_to_the_file_not_to_stdout(tmp_path, capsys):
    link = f"http://127.0.0.1:8080/r/{TOKEN}"
    message = Outgoing(
        key="r1:roll:X0001:muster.request:X0001:1",
        event="muster.request",
        site="xian",
        run="r1",
        task="roll:X0001",
        recipient="X0001",
        name="Wang",
        address=None,
        lang="en",
        subject="Roll call",
        text=f"Where are you? Answer: {link}",
        link=link,
        drill=False,
    )
    outcomes = list(console.send({"home": str(tmp_path)}, [message]))
    assert [o.sent for o in outcomes] == [True]
    out = capsys.readouterr().out
    assert TOKEN not in out and "/r/…" in out
    path = tmp_path / "console.jsonl"
    assert json.loads(path.read_text())["link"] == link
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_link_tokens_are_redacted_in_log_text():
    assert redact_links(f"unexpected error on POST /r/{TOKEN}") == "unexpected error on POST /r/…"
    assert redact_links("GET /runs/r1/tasks") == "GET /runs/r1/tasks"
