"""Erlang C staffing: calls in an interval + handling time + service-level target → the agents
needed, and the service level a number of agents reaches.

The Erlang B recursion `B(n) = A·B(n−1) / (n + A·B(n−1))` stays within [0, 1] at every step, so
it is stable for thousands of agents where factorials and powers overflow; Erlang C follows from
B: `C = N·B / (N − A·(1 − B))`.
"""

from __future__ import annotations

import math
from functools import lru_cache

MAX_AGENTS = 100_000  # a bound on the search, far above any interval of a real queue


def traffic(calls: float, aht: int, interval: int) -> float:
    """Offered load in erlangs: `calls × aht / interval`."""
    return calls * aht / interval


def erlang_b(n: int, a: float) -> float:
    b = 1.0
    for k in range(1, n + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(n: int, a: float) -> float:
    """Probability that a call waits with `n` agents and `a` erlangs (1.0 when `n <= a`)."""
    if a <= 0:
        return 0.0
    if n <= a:
        return 1.0
    b = erlang_b(n, a)
    return n * b / (n - a * (1 - b))


def _level(n: int, a: float, b: float, within: int, aht: int) -> float:
    c = n * b / (n - a * (1 - b))
    return 1.0 - c * math.exp(-(n - a) * within / aht)


def service_level(agents: int, a: float, within: int, aht: int) -> float:
    """Share of calls answered within `within` seconds by `agents` on the phone (1.0 without calls)."""
    if a <= 0:
        return 1.0
    if agents <= a:
        return 0.0
    return max(0.0, _level(agents, a, erlang_b(agents, a), within, aht))


@lru_cache(maxsize=65536)
def agents_needed(a: float, ratio: float, within: int, aht: int) -> int:
    """The smallest `N > A` whose service level reaches `ratio` (0 without traffic). B is carried
    along the search, so finding N costs N steps of the recursion, not N²."""
    if a <= 0:
        return 0
    b, n = 1.0, 0
    while n < MAX_AGENTS:
        n += 1
        b = a * b / (n + a * b)
        if n > a and _level(n, a, b, within, aht) >= ratio:
            return n
    raise ValueError(f"no staffing below {MAX_AGENTS} agents reaches {ratio} for {a:.1f} erlangs")


def headcount(agents: int, shrinkage: float) -> int:
    """Paid staff for `agents` on the phone: `ceil(N / (1 − shrinkage))` (rounding noise aside)."""
    if agents == 0:
        return 0
    return math.ceil(round(agents / (1 - shrinkage), 9))


def on_phone(staff: int, shrinkage: float) -> int:
    """Agents actually on the phone out of `staff` paid people."""
    return math.floor(round(staff * (1 - shrinkage), 9))
