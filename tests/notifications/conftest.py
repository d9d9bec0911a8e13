"""A site wired to real receivers: the recording HTTP server behind every webhook kind and an
aiosmtpd server (STARTTLS, self-signed certificate trusted through SSL_CERT_FILE) for mail."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.mail import MailServer

HOOK_SECRET = "whsec-relay-0123456789"
STAFF = """id,name,team,role,phone,email,chat_id,lang
R0001,Wang Fang,it,team_lead,,r0001@relay.example,,zh-CN
R0002,Sam Chat,it,team_lead,,,wx_r0002,en
R0003,Nobody Reachable,ops,team_lead,,,,
R0004,Mia Manager,ops,manager,,refuse@relay.example,,en
"""


def write_site(directory: Path, recorder_url: str, smtp_port: int) -> Path:
    site = directory / "relay"
    site.mkdir(parents=True)
    (site / "staff.csv").write_text(STAFF)
    (site / "site.yaml").write_text(f"""id: relay
name: Relay site
kind: lab
timezone: Asia/Shanghai
lang: en
teams:
  it: {{name: IT, leads: [R0001, R0002]}}
  ops: {{name: Ops, leads: [R0003]}}
channels:
  mail: {{kind: smtp, host: 127.0.0.1, port: {smtp_port}, from: continuity@relay.example, to: [ops@relay.example]}}
  chat: {{kind: wecom, url: "${{{{ env.RELAY_WECOM }}}}"}}
  hook: {{kind: webhook, url: "{recorder_url}/hook", secret: "${{{{ env.RELAY_HOOK_SECRET }}}}"}}
  slack: {{kind: slack, url: "{recorder_url}/slack"}}
  teams: {{kind: teams, url: "{recorder_url}/teams"}}
  ding: {{kind: dingtalk, url: "{recorder_url}/ding"}}
  feishu: {{kind: feishu, url: "{recorder_url}/feishu"}}
  console: {{kind: console}}
default_channel: hook
drill_channel: console
""")
    return site


@pytest.fixture
def mail(tmp_path):
    with MailServer(tmp_path) as server:
        yield server


@pytest.fixture
def relay(tmp_path, monkeypatch, recorder, mail):
    """Environment for the relay site; returns RUNBOOK_HOME."""
    write_site(tmp_path / "sites", recorder.url, mail.port)
    home = tmp_path / "home"
    env = {
        "RUNBOOK_SITES": str(tmp_path / "sites"),
        "RUNBOOK_HOME": str(home),
        "RUNBOOK_LIBRARY": str(tmp_path / "library"),
        "RELAY_WECOM": f"{recorder.url}/wecom?key=KEY-secret-42",
        "RELAY_HOOK_SECRET": HOOK_SECRET,
        "SSL_CERT_FILE": str(mail.cert),
        "RUNBOOK_OUTBOUND_ALLOW": f"127.0.0.1:{recorder.port}",
        "RUNBOOK_PUBLIC_URL": "https://runbook.example",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    (tmp_path / "library").mkdir()
    return home
