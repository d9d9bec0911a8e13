"""Erlang C staffing against a reference computed another way: the probability of waiting from
the Poisson terms summed in log space (lgamma, no recursion), the agents found by trying every N."""

from __future__ import annotations

import math

import pytest

from flows import erlang


def reference_wait(n: int, a: float) -> float:
    """Erlang C as the textbook writes it, each term in logs: A^N/N! · N/(N−A) over
    Σ_{k<N} A^k/k! + A^N/N! · N/(N−A)."""
    logs = [k * math.log(a) - math.lgamma(k + 1) for k in range(n)]
    top = n * math.log(a) - math.lgamma(n + 1) + math.log(n / (n - a))
    peak = max(max(logs), top)
    below = sum(math.exp(x - peak) for x in logs)
    return math.exp(top - peak) / (below + math.exp(top - peak))


def reference_agents(calls: float, aht: int, interval: int, ratio: float, within: int) -> int:
    a = calls * aht / interval
    if a == 0:
        return 0
    n = math.floor(a) + 1
    while 1 - reference_wait(n, a) * math.exp(-(n - a) * within / aht) < ratio:
        n += 1
    return n


def test_the_issue_example_needs_14_agents_and_20_paid_staff_with_shrinkage():
    a = erlang.traffic(100, 180, 1800)
    assert a == 10.0
    n = erlang.agents_needed(a, 0.8, 20, 180)
    assert n == 14
    assert erlang.service_level(14, a, 20, 180) == pytest.approx(0.888, abs=0.001)
    assert erlang.service_level(13, a, 20, 180) < 0.8  # 13 is not enough
    assert erlang.headcount(n, 0.3) == 20


def test_required_agents_match_the_reference_table_for_0_to_1000_calls_an_interval():
    table = {calls: reference_agents(calls, 180, 1800, 0.8, 20) for calls in range(0, 1001, 5)}
    ours = {calls: erlang.agents_needed(erlang.traffic(calls, 180, 1800), 0.8, 20, 180) for calls in table}
    assert ours == table
    assert table[0] == 0 and table[100] == 14 and table[1000] > 100


@pytest.mark.parametrize(("n", "a"), [(10, 5.0), (150, 140.0), (1200, 1150.5), (2000, 1900.0), (2000, 1999.0)])
def test_erlang_c_stays_stable_up_to_2000_agents(n, a):
    assert erlang.erlang_c(n, a) == pytest.approx(reference_wait(n, a), rel=1e-9)
    assert 0.0 <= erlang.erlang_c(n, a) <= 1.0


def test_two_thousand_agents_are_found_without_overflow():
    a = erlang.traffic(20000, 180, 1800)  # 2,000 erlangs
    n = erlang.agents_needed(a, 0.8, 20, 180)
    assert n == reference_agents(20000, 180, 1800, 0.8, 20)
    assert 2000 < n < 2100


def test_no_calls_need_no_one_and_are_served_in_full():
    assert erlang.agents_needed(0.0, 0.8, 20, 180) == 0
    assert erlang.headcount(0, 0.3) == 0
    assert erlang.service_level(0, 0.0, 20, 180) == 1.0
    assert erlang.service_level(5, 10.0, 20, 180) == 0.0  # fewer agents than erlangs: the queue grows
