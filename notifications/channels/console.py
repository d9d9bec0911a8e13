"""Console channel: a notification → a line on stdout and one JSON object a line appended to
`$RUNBOOK_HOME/console.jsonl` (flushed and fsynced: a sent notification is on disk)."""
from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any, Mapping

_lock = threading.Lock()


def send(home: Path, body: Mapping[str, Any]) -> None:
    line = json.dumps(dict(body), ensure_ascii=False, sort_keys=True)
    home.mkdir(parents=True, exist_ok=True)
    with _lock, open(home / "console.jsonl", "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())
    print(f"[{body.get('recipient')}] {body.get('text')}", file=sys.stdout, flush=True)
