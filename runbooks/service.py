"""Service stage: a site's `service:` (queues as written, demand/surge/baseline CSVs) → frozen
`Queue`s, or located diagnostics (RB508–RB510; RB511 is checked against a runbook in validate.py).

Times in the CSVs are the site's local times; a row's `start` must sit on the queue's interval
grid. Calls not listed are zero; a baseline interval not listed has no agents.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from .csvfiles import cell_col, read_csv
from .diagnostics import Diagnostic
from .models import Duration, HumanText, Id, Spec, parse_duration
from .source import Document
from .texts import text_json, text_of

DAY = 86400
HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class AnswerSpec(Spec):
    ratio: float | int = Field(gt=0, le=1)
    within: Duration


class PerItemDemand(Spec):
    """Demand that follows a run: so many calls per hour per done item of a step."""

    per_item_of: Id
    per_hour: float | int = Field(ge=0)


class SupplySpec(Spec):
    step: Id
    field: Id | None = None
    # Which column of `staffed` these people count in; default: a people field is on site,
    # the done items of a step are home agents.
    as_: Literal["onsite", "home"] | None = Field(None, alias="as")


class QueueSpec(Spec):
    name: HumanText | None = None
    interval: Duration = "30m"
    aht: Duration
    answer: AnswerSpec
    shrinkage: float | int = Field(0, ge=0, lt=1)
    demand: str | PerItemDemand
    surge: str | None = None
    baseline: str | None = None
    supply: list[SupplySpec] = []


@dataclass(frozen=True)
class Supply:
    step: str
    field: str | None
    as_: str  # "onsite" or "home"
    where: tuple[str, int, int]  # site.yaml path, line, col: RB511 points here


@dataclass(frozen=True)
class Queue:
    id: str
    name: str
    interval: int  # seconds
    aht: int
    ratio: float
    within: int
    shrinkage: float
    demand: dict[tuple[int, int], float]  # (ISO weekday, minute of the day) → calls
    surge: dict[tuple[str, int], float]  # (ISO date, minute) → calls
    baseline: dict[tuple[int, int], int] | None
    per_item: tuple[str, float] | None  # (step, calls per hour per done item)
    supply: tuple[Supply, ...]
    demand_where: tuple[str, int, int] = ("site.yaml", 1, 1)  # where `demand:` is written (RB511)

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": text_json(self.name),
            "interval": self.interval,
            "aht": self.aht,
            "ratio": self.ratio,
            "within": self.within,
            "shrinkage": self.shrinkage,
            "demand": [[w, m, c] for (w, m), c in sorted(self.demand.items())],
            "surge": [[d, m, c] for (d, m), c in sorted(self.surge.items())],
            "baseline": None if self.baseline is None else [[w, m, a] for (w, m), a in sorted(self.baseline.items())],
            "per_item": list(self.per_item) if self.per_item else None,
            "supply": [[s.step, s.field, s.as_, list(s.where)] for s in self.supply],
            "demand_where": list(self.demand_where),
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> Queue:
        base = data.get("baseline")
        return cls(
            data["id"],
            text_of(data["name"]),
            data["interval"],
            data["aht"],
            data["ratio"],
            data["within"],
            data["shrinkage"],
            {(w, m): c for w, m, c in data["demand"]},
            {(d, m): c for d, m, c in data["surge"]},
            None if base is None else {(w, m): a for w, m, a in base},
            (data["per_item"][0], data["per_item"][1]) if data.get("per_item") else None,
            tuple(Supply(s, f, a, (w[0], w[1], w[2])) for s, f, a, w in data["supply"]),
            tuple(data.get("demand_where") or ("site.yaml", 1, 1)),
        )


def load_service(
    directory: Path, doc: Document, specs: dict[str, QueueSpec]
) -> tuple[dict[str, Queue], list[Diagnostic]]:
    """Every queue of `service:`, with all the problems of its settings and files."""
    queues: dict[str, Queue] = {}
    problems: list[Diagnostic] = []
    for qid, spec in specs.items():
        loc = ("service", qid)
        interval, aht, within = (
            parse_duration(spec.interval),
            parse_duration(spec.aht),
            parse_duration(spec.answer.within),
        )
        bad = len(problems)
        if interval == 0 or DAY % interval or interval % 60:
            problems.append(
                doc.diagnostic(
                    loc + ("interval",),
                    "RB510",
                    f'queue "{qid}": interval {spec.interval} does not divide the day into whole minutes',
                    "use 15m, 30m, 1h, ...",
                )
            )
        if aht == 0:
            problems.append(
                doc.diagnostic(loc + ("aht",), "RB510", f'queue "{qid}": aht must be more than 0s', "e.g. aht: 180s")
            )
        if len(problems) > bad:
            continue
        minutes = interval // 60
        demand: dict[tuple[int, int], float] = {}
        per_item = None
        if isinstance(spec.demand, str):
            demand = _weekly(directory, doc, loc + ("demand",), spec.demand, "calls", minutes, problems)
        else:
            per_item = (spec.demand.per_item_of, float(spec.demand.per_hour))
        surge = _surge(directory, doc, loc + ("surge",), spec.surge, minutes, problems) if spec.surge else {}
        baseline = None
        if spec.baseline:
            weekly = _weekly(directory, doc, loc + ("baseline",), spec.baseline, "agents", minutes, problems)
            baseline = {k: int(v) for k, v in weekly.items()}
        demand_mark = doc.mark(loc + ("demand",))
        supply = []
        for i, s in enumerate(spec.supply):
            mark = doc.mark(loc + ("supply", i))
            supply.append(
                Supply(s.step, s.field, s.as_ or ("onsite" if s.field else "home"), (doc.path, mark.line, mark.col))
            )
        queues[qid] = Queue(
            qid,
            spec.name or qid,
            interval,
            aht,
            float(spec.answer.ratio),
            within,
            float(spec.shrinkage),
            demand,
            surge,
            baseline,
            per_item,
            tuple(supply),
            (doc.path, demand_mark.line, demand_mark.col),
        )
    return queues, problems


def _open(directory: Path, doc: Document, loc: tuple, name: str, problems: list[Diagnostic]) -> Path | None:
    path = directory / name
    if not path.is_file() or not path.resolve().is_relative_to(directory.resolve()):
        problems.append(doc.diagnostic(loc, "RB506", f'service file "{name}" not found in the site directory'))
        return None
    return path


def _header(path: Path, header: list[str], columns: tuple[str, ...], problems: list[Diagnostic]) -> bool:
    missing = [c for c in columns if c not in header]
    if missing:
        problems.append(
            Diagnostic(
                str(path),
                1,
                1,
                "RB508",
                f"{path.name} has no column {', '.join(missing)}",
                f"the header needs {','.join(columns)}",
            )
        )
    return not missing


def _start(value: str, minutes: int) -> tuple[int | None, str | None]:
    m = HHMM.match(value)
    if not m:
        return None, f'bad start "{value}" (expected local HH:MM)'
    minute = int(m.group(1)) * 60 + int(m.group(2))
    if minute % minutes:
        return None, f"start {value} is not on the {minutes}-minute interval grid"
    return minute, None


def _amount(value: str, column: str) -> tuple[float | None, str | None]:
    try:
        amount = float(value)
    except ValueError:
        return None, f'{column} "{value}" is not a number'
    if amount < 0 or amount != amount or amount == float("inf"):
        return None, f"{column} must be 0 or more, got {value}"
    if column == "agents" and not amount.is_integer():
        return None, f"agents must be a whole number, got {value}"
    return amount, None


def _weekly(
    directory: Path, doc: Document, loc: tuple, name: str, column: str, minutes: int, problems: list[Diagnostic]
) -> dict[tuple[int, int], float]:
    path = _open(directory, doc, loc, name, problems)
    if path is None:
        return {}
    header, rows = read_csv(path)
    columns = ("weekday", "start", column)
    if not _header(path, header, columns, problems):
        return {}
    out: dict[tuple[int, int], float] = {}
    seen: dict[tuple[int, int], int] = {}
    for line, row in rows:
        cells = {h: (row[i] if i < len(row) else "") for i, h in enumerate(header)}
        here = len(problems)
        weekday = cells["weekday"]
        if weekday not in ("1", "2", "3", "4", "5", "6", "7"):
            problems.append(
                _cell(path, line, row, header, "weekday", f'unknown weekday "{weekday}" (ISO: 1 Monday … 7 Sunday)')
            )
        minute, why = _start(cells["start"], minutes)
        if why:
            problems.append(_cell(path, line, row, header, "start", why))
        amount, why = _amount(cells[column], column)
        if why:
            problems.append(_cell(path, line, row, header, column, why))
        if len(problems) > here or minute is None or amount is None:
            continue
        key = (int(weekday), minute)
        if key in seen:
            problems.append(
                _cell(
                    path,
                    line,
                    row,
                    header,
                    "start",
                    f"weekday {weekday} {cells['start']} is listed twice (first at line {seen[key]})",
                )
            )
            continue
        seen[key] = line
        out[key] = amount
    return out


def _surge(
    directory: Path, doc: Document, loc: tuple, name: str, minutes: int, problems: list[Diagnostic]
) -> dict[tuple[str, int], float]:
    path = _open(directory, doc, loc, name, problems)
    if path is None:
        return {}
    header, rows = read_csv(path)
    if not _header(path, header, ("date", "start", "calls"), problems):
        return {}
    out: dict[tuple[str, int], float] = {}
    for line, row in rows:
        cells = {h: (row[i] if i < len(row) else "") for i, h in enumerate(header)}
        here = len(problems)
        try:
            day = dt.date.fromisoformat(cells["date"]).isoformat()
        except ValueError:
            problems.append(_cell(path, line, row, header, "date", f'bad date "{cells["date"]}" (expected YYYY-MM-DD)'))
        minute, why = _start(cells["start"], minutes)
        if why:
            problems.append(_cell(path, line, row, header, "start", why))
        amount, why = _amount(cells["calls"], "calls")
        if why:
            problems.append(_cell(path, line, row, header, "calls", why))
        if len(problems) == here and minute is not None and amount is not None:
            out[(day, minute)] = amount
    return out


def _cell(path: Path, line: int, row: list[str], header: list[str], column: str, message: str) -> Diagnostic:
    return Diagnostic(str(path), line, cell_col(row, header.index(column)), "RB509", f"{path.name}: {message}")
