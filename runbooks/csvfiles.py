"""CSV files of a site directory: text → header and (line, cells) rows, stripped, blank rows dropped."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from .diagnostics import Diagnostic, RunbookError
from .source import read_text


def read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    text = read_text(path)
    reader = csv.reader(io.StringIO(text))
    rows: list[tuple[int, list[str]]] = []
    header: list[str] = []
    try:
        for row in reader:
            if not header:
                header = [h.strip() for h in row]
                continue
            if any(cell.strip() for cell in row):
                rows.append((reader.line_num, [c.strip() for c in row]))
    except csv.Error as e:
        raise RunbookError([Diagnostic(str(path), reader.line_num, 1, "RB002", f"CSV error: {e}")]) from None
    return header, rows


def cell_col(row: list[str], index: int) -> int:
    return 1 + sum(len(c) + 1 for c in row[:index])
