"""Server-sent events: one feed per watched run reads new events from the store once (woken
by this process's changes, else every `poll` seconds) and fans them out to every client of
that run, so 200 dashboards cost one query a poll, not 200.

Each event: `id: <seq>` (increasing; a client reconnecting with `Last-Event-ID` gets what it
missed), `event: <name>`, `data: {run, task?, state?, counts?}`; a comment line every 15 s
keeps proxies from closing an idle stream. When the run's stored forecast changes (the
forecaster, flows/forecaster.py, stores it a moment after the change it reflects), clients get
`event: forecast` with `data: {run, as_of}` and no `id` (it is not one of the run's events)."""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool

from flows import signals
from flows.views import iso

if TYPE_CHECKING:
    from flows.store import Store

KEEPALIVE = 15.0
REVALIDATE = 2.0  # seconds between checks that a stream's token or session is still valid
BUFFER = 5000


class _Feed:
    def __init__(self) -> None:
        self.events: collections.deque[dict[str, Any]] = collections.deque(maxlen=BUFFER)
        self.last = 0  # newest seq read from the store
        self.dropped = 0  # newest seq dropped from the full buffer
        self.clients = 0
        self.forecast: tuple[int, Any] | None = None  # the stored forecast's (seq, time), as last read
        self.changed = asyncio.Condition()
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None


class EventHub:
    def __init__(self, store: Store, poll: float = 0.5):
        self.store, self.poll = store, poll
        self.feeds: dict[str, _Feed] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        signals.subscribe(self._signal)

    def close(self) -> None:
        signals.unsubscribe(self._signal)
        for feed in self.feeds.values():
            if feed.task:
                feed.task.cancel()

    def _signal(self, run_id: str) -> None:  # from any thread
        feed, loop = self.feeds.get(run_id), self.loop
        if feed is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(feed.wake.set)

    def _read(self, run_id: str, after: int) -> tuple[list[dict[str, Any]], dict[str, int], tuple[int, Any]]:
        with self.store.read() as r:
            stamp = r.forecast_stamp(run_id)
            rows = r.events(run_id, after=after, limit=1000)
            counts: dict[str, int] = {}
            if rows:
                for states in r.counts_by_step(run_id).values():
                    for state, n in states.items():
                        counts[state] = counts.get(state, 0) + n
        return rows, counts, stamp

    async def _poll(self, run_id: str, feed: _Feed) -> None:
        while feed.clients > 0:
            rows, counts, stamp = await run_in_threadpool(self._read, run_id, feed.last)
            if stamp != feed.forecast:
                feed.forecast = stamp
                async with feed.changed:
                    feed.changed.notify_all()
            if rows:
                for row in rows:
                    if len(feed.events) == feed.events.maxlen:
                        feed.dropped = feed.events[0]["seq"]
                    feed.events.append(_message(run_id, row, counts))
                feed.last = rows[-1]["seq"]
                async with feed.changed:
                    feed.changed.notify_all()
                if len(rows) == 1000:
                    continue
            try:
                await asyncio.wait_for(feed.wake.wait(), self.poll)
            except TimeoutError:
                pass
            feed.wake.clear()

    async def stream(
        self, run_id: str, after: int, valid: Callable[[], Awaitable[bool]] | None = None
    ) -> AsyncIterator[str]:
        """The run's events after `after`; `valid` (the caller's token or session still good) is
        asked every REVALIDATE seconds, and the stream ends when it says no."""
        self.loop = asyncio.get_running_loop()
        feed = self.feeds.get(run_id)
        if feed is None:
            feed = self.feeds[run_id] = _Feed()
            feed.last, feed.forecast = await run_in_threadpool(self._heads, run_id)
        feed.clients += 1
        if feed.task is None or feed.task.done():
            feed.task = asyncio.create_task(self._poll(run_id, feed))
        try:
            last = after
            head = feed.events[0]["seq"] if feed.events else feed.last + 1
            async for text, seq in self._catch_up(run_id, last, head - 1):  # before the buffer
                yield text
                last = seq
            last = max(last, min(head - 1, feed.last)) if after < head else last
            yield ": connected\n\n"
            told = feed.forecast  # forecasts stored from now on are told
            loop_time = asyncio.get_running_loop().time
            last_check = loop_time()
            while True:
                if valid is not None and loop_time() - last_check >= REVALIDATE:
                    last_check = loop_time()
                    if not await valid():  # revoked or expired: the stream ends
                        return
                if feed.dropped > last:  # fell behind what the buffer keeps: read the gap
                    async for text, seq in self._catch_up(run_id, last, feed.events[0]["seq"] - 1):
                        yield text
                        last = seq
                    last = max(last, feed.events[0]["seq"] - 1)
                fresh = _newer(feed.events, last)
                for event in fresh:
                    yield _format(event)
                    last = event["seq"]
                if fresh:
                    continue
                if feed.forecast != told:
                    told = feed.forecast
                    if told is not None and told[0] >= 0:
                        yield f"event: forecast\ndata: {json.dumps({'run': run_id, 'as_of': told[0]})}\n\n"
                    continue
                idle = False
                async with feed.changed:
                    if not (feed.events and feed.events[-1]["seq"] > last) and feed.forecast == told:
                        try:
                            wait = KEEPALIVE if valid is None else min(KEEPALIVE, REVALIDATE)
                            await asyncio.wait_for(feed.changed.wait(), wait)
                        except TimeoutError:
                            idle = True
                if idle:  # sent outside the lock: a client that stopped reading holds nobody up
                    yield ": keepalive\n\n"
        finally:
            feed.clients -= 1

    async def _catch_up(self, run_id: str, after: int, upto: int) -> AsyncIterator[tuple[str, int]]:
        while after < upto:
            rows, counts, _ = await run_in_threadpool(self._read, run_id, after)
            rows = [r for r in rows if r["seq"] <= upto]
            if not rows:
                return
            for row in rows:
                yield _format(_message(run_id, row, counts)), row["seq"]
            after = rows[-1]["seq"]

    def _heads(self, run_id: str) -> tuple[int, tuple[int, Any]]:
        """The run's newest event and its stored forecast's stamp."""
        with self.store.read() as r:
            return r.last_event_seq(run_id), r.forecast_stamp(run_id)


def _newer(events: collections.deque, last: int) -> list[dict[str, Any]]:
    """The buffered events after `last`, found from the end (cost: the new events only)."""
    fresh = []
    for event in reversed(events):
        if event["seq"] <= last:
            break
        fresh.append(event)
    fresh.reverse()
    return fresh


def _message(run_id: str, row: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
    data: dict[str, Any] = {"run": run_id, "at": iso(row["at"])}  # the feed shows it in the site's time
    if row["task_id"]:
        data["task"] = row["task_id"]
    state = (row["data"] or {}).get("state")
    if state:
        data["state"] = state
    if counts:
        data["counts"] = counts
    for key in ("objective", "value", "target"):
        if key in (row["data"] or {}):
            data[key] = row["data"][key]
    return {"seq": row["seq"], "name": row["name"], "data": data}


def _format(event: dict[str, Any]) -> str:
    return f"id: {event['seq']}\nevent: {event['name']}\ndata: {json.dumps(event['data'], separators=(',', ':'))}\n\n"
