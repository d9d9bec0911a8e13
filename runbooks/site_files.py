"""A site's CSV files (runbooks/sites.py reads them for `load_site`): `staff.csv` → the roster
(required and optional columns, ids, one plain address and phone each, teams the site has) and
a pool's CSV → a frozen `Pool`, each problem located at its cell."""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass
from pathlib import Path

from .clean import control_character
from .csvfiles import cell_col, read_csv
from .diagnostics import Diagnostic, did_you_mean
from .site_spec import PoolSpec, SiteSpec
from .source import Document

STAFF_REQUIRED = ("id", "name", "team")
STAFF_OPTIONAL = ("role", "phone", "email", "chat_id", "lang")


@dataclass(frozen=True)
class Pool:
    id: str
    key: str
    columns: tuple[str, ...]
    rows: tuple[dict[str, str], ...]
    consumable: bool = False
    minimum: tuple[tuple[str, int], ...] = ()  # (item kind, min level) of a consumable pool

    def available(self) -> list[dict[str, str]]:
        return [r for r in self.rows if r.get("status") == "available"]


STAFF_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_PHONE = re.compile(r"\+?[0-9][0-9 ()./-]{4,30}")


def _contact_problems(person: dict[str, str]) -> list[tuple[str, str]]:
    """A roster address names one recipient: `<a@x>, b@evil.example` is two, and refused."""
    found: list[tuple[str, str]] = []
    written = (person.get("email") or "").strip()
    if written:
        parsed = email.utils.getaddresses([written])
        address = parsed[0][1] if len(parsed) == 1 else ""
        if len(parsed) != 1 or address != written or "@" not in address or control_character(written) or " " in written:
            found.append(("email", f"email {written!r} is not one plain address (like wang.li@bank.example)"))
    phone = (person.get("phone") or "").strip()
    if phone and not _PHONE.fullmatch(phone):
        found.append(("phone", f"phone {phone!r} is not a phone number (like +86 29 8888 0001)"))
    return found


def load_staff(path: Path, spec: SiteSpec) -> tuple[list[dict[str, str]], list[Diagnostic]]:
    p = str(path)
    if not path.is_file():
        return [], [Diagnostic(p, 1, 1, "RB506", "staff.csv is missing", f"columns: {', '.join(STAFF_REQUIRED)}")]
    header, rows = read_csv(path)
    missing = [c for c in STAFF_REQUIRED if c not in header]
    if missing:
        return [], [
            Diagnostic(
                p,
                1,
                1,
                "RB501",
                f"staff.csv has no column {', '.join(missing)}",
                f"the header needs {', '.join(STAFF_REQUIRED)}; optional: {', '.join(STAFF_OPTIONAL)}",
            )
        ]
    problems: list[Diagnostic] = []
    staff: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        person = {h: (row[i] if i < len(row) else "") for i, h in enumerate(header) if h}
        bad = False
        for column in STAFF_REQUIRED:
            if not person[column]:
                i = header.index(column)
                problems.append(
                    Diagnostic(
                        p,
                        line,
                        cell_col(row, i),
                        "RB502",
                        f"row has no {column}",
                        f"every person needs {', '.join(STAFF_REQUIRED)}",
                    )
                )
                bad = True
        if person["team"] and person["team"] not in spec.teams:
            problems.append(
                Diagnostic(
                    p,
                    line,
                    cell_col(row, header.index("team")),
                    "RB503",
                    f'unknown team "{person["team"]}" for {person["id"] or "this person"}',
                    did_you_mean(person["team"], spec.teams) or f"teams in site.yaml: {', '.join(spec.teams)}",
                )
            )
            bad = True
        if person["id"] and not STAFF_ID.fullmatch(person["id"]):
            problems.append(
                Diagnostic(
                    p,
                    line,
                    1,
                    "RB512",
                    f"bad staff id {person['id']!r}",
                    "a staff id is letters, digits, '_', '.' or '-', starting with a letter or digit (X0001)",
                )
            )
            bad = True
        for column, problem in _contact_problems(person):
            problems.append(Diagnostic(p, line, cell_col(row, header.index(column)), "RB513", problem))
            bad = True
        if person["id"] in seen:
            problems.append(
                Diagnostic(
                    p, line, 1, "RB504", f'duplicate staff id "{person["id"]}" (first at line {seen[person["id"]]})'
                )
            )
            bad = True
        elif person["id"]:
            seen[person["id"]] = line
        if not bad:
            staff.append(person)
    return staff, problems


def load_pool(directory: Path, doc: Document, pool_id: str, spec: PoolSpec) -> tuple[Pool | None, list[Diagnostic]]:
    path = directory / spec.file
    if not path.is_file() or not path.resolve().is_relative_to(directory.resolve()):
        return None, [
            doc.diagnostic(
                ("pools", pool_id, "file"), "RB506", f'pool file "{spec.file}" not found in the site directory'
            )
        ]
    header, rows = read_csv(path)
    p = str(path)
    missing = [c for c in (spec.key, "status") + (("quantity",) if spec.consumable else ()) if c not in header]
    if missing:
        return None, [
            Diagnostic(
                p,
                1,
                1,
                "RB501",
                f"{spec.file} has no column {', '.join(missing)}",
                f"a pool needs its key column ({spec.key}) and status",
            )
        ]
    problems: list[Diagnostic] = []
    seen: dict[str, int] = {}
    out = []
    key_index = header.index(spec.key)
    for line, row in rows:
        item = {h: (row[i] if i < len(row) else "") for i, h in enumerate(header) if h}
        key = item[spec.key]
        if not key:
            problems.append(Diagnostic(p, line, cell_col(row, key_index), "RB502", f"row has no {spec.key}"))
        elif key in seen:
            problems.append(
                Diagnostic(
                    p,
                    line,
                    cell_col(row, key_index),
                    "RB505",
                    f'duplicate {spec.key} "{key}" in pool {pool_id} (first at line {seen[key]})',
                )
            )
        elif spec.consumable and not item.get("quantity", "").isdigit():
            column = header.index("quantity")
            problems.append(
                Diagnostic(
                    p,
                    line,
                    cell_col(row, column),
                    "RB553",
                    f'quantity "{item.get("quantity", "")}" of {key} in pool {pool_id} is not a whole number',
                    "a consumable pool's quantity is a count: 0, 12, 300",
                )
            )
        else:
            seen[key] = line
            out.append(item)
    for kind in spec.min if spec.consumable else ():
        if kind not in seen:
            problems.append(
                doc.diagnostic(
                    ("pools", pool_id, "min", kind),
                    "RB554",
                    f'min names item "{kind}", which pool {pool_id} does not have',
                    did_you_mean(kind, seen) or f"items: {', '.join(seen) or 'none'}",
                    key=True,
                )
            )
    minimum = tuple(sorted(spec.min.items())) if spec.consumable else ()
    return Pool(pool_id, spec.key, tuple(h for h in header if h), tuple(out), spec.consumable, minimum), problems
