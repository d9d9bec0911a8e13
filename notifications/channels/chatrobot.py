"""What the three Chinese chat robots (WeCom, DingTalk, Feishu) share: they answer HTTP 200
with an error code in the body, and some codes mean "too many messages, try later"."""
from __future__ import annotations

from typing import Iterable

import requests

from . import SENT, Outcome, dead, retry


def answer_checker(code_keys: Iterable[str], rate_limited: frozenset[int]):
    keys = tuple(code_keys)

    def check(response: requests.Response) -> Outcome:
        try:
            data = response.json()
        except ValueError:
            return SENT  # a 2xx without a JSON body: the robot took it
        code = next((data[k] for k in keys if isinstance(data, dict) and k in data), 0)
        if not code:
            return SENT
        if code in rate_limited:
            return retry(f"robot answered code {code} (rate limited)", 60.0)
        return dead(f"robot answered code {code}")
    return check
