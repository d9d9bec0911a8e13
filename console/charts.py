"""Charts drawn by the server: the geometry of an objective's burn-up and of the step graph,
as numbers a template turns into inline SVG (no script, nothing fetched)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

W, H, PAD = 320, 140, 24


def burnup(o: Mapping[str, Any]) -> dict[str, Any]:
    """Value against time from the start to the deadline (or later, if later): the series, the
    target line, the deadline line, 'now', and the forecast's fan: from now to the target at
    P50 (the line) and out to P90 (the band; to the chart's edge when P90 is beyond it or never)."""
    start = datetime.fromisoformat(o["started_at"])
    deadline = datetime.fromisoformat(o["deadline"])
    now = datetime.fromisoformat(o["now"])
    f = o.get("forecast") or {}
    p50 = datetime.fromisoformat(f["p50"]) if f.get("p50") and not o["met"] else None
    p90 = datetime.fromisoformat(f["p90"]) if f.get("p90") and not o["met"] else None
    horizon = deadline + (deadline - start)  # the chart shows at most twice the objective's window
    end = max(deadline, now, min(p90 or p50 or deadline, horizon))
    span = max((end - start).total_seconds(), 1.0)
    top = max(float(o["target"]), float(o["value"]), 1e-9) * 1.1

    def x(t: datetime) -> float:
        return round(PAD + (W - 2 * PAD) * max(0.0, min((t - start).total_seconds(), span)) / span, 1)

    def y(v: float) -> float:
        return round(H - PAD - (H - 2 * PAD) * v / top, 1)

    points = [(x(datetime.fromisoformat(t)), y(v)) for t, v in o["series"]]
    points.append((x(now), y(float(o["value"]))))
    fan = median = None
    if p50 is not None:
        here = (x(now), y(float(o["value"])))
        at50 = (x(p50), y(float(o["target"])))
        at90 = (x(p90) if p90 is not None else W - PAD, y(float(o["target"])))
        median = (*here, *at50)
        fan = " ".join(f"{a},{b}" for a, b in (here, at50, at90))
    return {
        "w": W,
        "h": H,
        "pad": PAD,
        "points": " ".join(f"{a},{b}" for a, b in points),
        "target_y": y(float(o["target"])),
        "deadline_x": x(deadline),
        "now_x": x(now),
        "forecast": median,
        "fan": fan,
        "x0": PAD,
        "x1": W - PAD,
        "y0": H - PAD,
        "y1": PAD,
    }


NODE_W, NODE_H, GAP_X, GAP_Y = 120, 34, 36, 14


def graph(g: Mapping[str, Any]) -> dict[str, Any]:
    """Boxes in columns by depth; an edge from the right of a need to the left of its dependent."""
    place = {}
    for n in g["nodes"]:
        place[n["id"]] = (8 + n["depth"] * (NODE_W + GAP_X), 8 + n["row"] * (NODE_H + GAP_Y))
    nodes = [{**n, "x": place[n["id"]][0], "y": place[n["id"]][1]} for n in g["nodes"]]
    edges = []
    for a, b in g["edges"]:
        (ax, ay), (bx, by) = place[a], place[b]
        edges.append({"x1": ax + NODE_W, "y1": ay + NODE_H / 2, "x2": bx, "y2": by + NODE_H / 2})
    width = max((x for x, _ in place.values()), default=0) + NODE_W + 16
    height = max((y for _, y in place.values()), default=0) + NODE_H + 16
    return {"nodes": nodes, "edges": edges, "w": width, "h": height, "node_w": NODE_W, "node_h": NODE_H}


CELL_W, CELL_H, LABEL_W, HEAD_H = 12, 18, 78, 16


def heatmap(c: Mapping[str, Any]) -> dict[str, Any]:
    """A queue's coverage as days (rows, the site's local dates) × intervals of the day
    (columns): each cell says covered, short (also marked with a cross, not only by colour;
    darker the shorter: up to a fifth, half, or more of the required missing) or no calls,
    with its time, staffed, required and gap for the template's title."""
    per_day = max(1, 86400 // int(c["interval"]))
    days: dict[str, int] = {}
    cells = []
    for r in c["intervals"]:
        local = datetime.fromisoformat(r["local"])
        row = days.setdefault(local.date().isoformat(), len(days))
        col = (local.hour * 3600 + local.minute * 60) // int(c["interval"])
        x, y = LABEL_W + col * CELL_W, HEAD_H + row * CELL_H
        state = "short" if r["gap"] else ("idle" if not r["required"] else "ok")
        share = r["gap"] / r["required"] if r["required"] else 0.0  # how short: the shade of red
        level = 0 if not r["gap"] else 1 if share <= 0.2 else 2 if share <= 0.5 else 3
        cells.append(
            {
                "x": x,
                "y": y,
                "state": state,
                "level": level,
                "when": f"{local:%m-%d %H:%M}",
                "staffed": r["staffed"]["total"],
                "required": r["required"],
                "gap": r["gap"],
                "cross": (x + 2, y + 2, x + CELL_W - 2, y + CELL_H - 2) if r["gap"] else None,
            }
        )
    labels = [
        {"y": HEAD_H + i * CELL_H + CELL_H * 0.7, "text": datetime.fromisoformat(d).strftime("%a %m-%d")}
        for d, i in days.items()
    ]
    step = max(1, per_day // 12)  # an hour label every two hours with 30-minute intervals
    hours = [
        {"x": LABEL_W + i * CELL_W, "text": f"{i * int(c['interval']) // 3600:02d}"} for i in range(0, per_day, step)
    ]
    return {
        "w": LABEL_W + per_day * CELL_W + 4,
        "h": HEAD_H + len(days) * CELL_H + 4,
        "cw": CELL_W - 1,
        "ch": CELL_H - 1,
        "cells": cells,
        "days": labels,
        "hours": hours,
    }


CW, CH, CPAD = 360, 160, 28


def response_curve(rc: Mapping[str, Any]) -> dict[str, Any]:
    """A roll call's first answers against time since it started (a step line), the quorum's
    level and the moment it was reached."""
    asked = max(int(rc["asked"]), 1)
    span = max([p["s"] or 0 for p in rc["curve"]] + [rc["time_to_quorum_s"] or 0, 1.0])

    def x(s: float) -> float:
        return round(CPAD + (CW - 2 * CPAD) * s / span, 1)

    def y(n: float) -> float:
        return round(CH - CPAD - (CH - 2 * CPAD) * n / asked, 1)

    points = [(x(0), y(0))]
    for p in rc["curve"]:
        points += [(x(p["s"]), points[-1][1]), (x(p["s"]), y(p["answered"]))]
    quorum_y = y(float(rc["quorum"]) * asked)
    at = rc["time_to_quorum_s"]
    return {
        "w": CW,
        "h": CH,
        "points": " ".join(f"{a},{b}" for a, b in points),
        "quorum_y": quorum_y,
        "quorum_x": x(at) if at is not None else None,
        "x0": CPAD,
        "x1": CW - CPAD,
        "y0": CH - CPAD,
        "y1": CPAD,
        "span_s": span,
    }


BAR_W, BAR_H, BAR_LABEL = 420, 16, 110


def duration_bars(steps: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Per step with done tasks: a bar to its p50, a longer lighter one to its p90 and a tick
    at its max, on one scale (the longest max)."""
    rows = [s for s in steps if s["max_s"] is not None]
    top = max([float(s["max_s"]) for s in rows] + [1.0])
    scale = (BAR_W - BAR_LABEL - 8) / top
    bars = [
        {
            "id": s["id"],
            "y": 4 + i * (BAR_H + 4),
            "p50": round(float(s["p50_s"]) * scale, 1),
            "p90": round(float(s["p90_s"]) * scale, 1),
            "max": round(BAR_LABEL + float(s["max_s"]) * scale, 1),
        }
        for i, s in enumerate(rows)
    ]
    return {"w": BAR_W, "h": 8 + len(rows) * (BAR_H + 4), "label": BAR_LABEL, "bar_h": BAR_H, "bars": bars}
