"""Docs that stand alone: a user has only the repository, so no tracked text file points to the
design notes kept outside it (their file names or a path under the outside `shared` folder),
and every relative Markdown link and every mention of a page under `docs` names a file (and,
with `#anchor`, a heading) that exists."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEXT = (".py", ".md", ".yaml", ".html", ".txt")

# `[/]`, not a bare slash: so that this line is not a match itself.
OUTSIDE = re.compile(r"\b(?:DESIGN|STYLE|SUMMARY)\.md\b|(?<![\w-])shared[/]")
# [text](target): a relative target is a path with no scheme; `#…` alone is this page's anchor.
LINK = re.compile(r"\[[^\]\n]*\]\(<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\)")
# docs/<page>.md anywhere, from the repository's root; not part of a longer path.
DOCS_PAGE = re.compile(r"(?<![\w./-])(docs/[\w./-]*?\.md)(#[\w-]+)?")
FILE_LIKE = re.compile(r"^[\w./-]+\.(?:md|png|jpg|svg|yaml|yml|py|txt|html|csv|json|toml)$")


@cache
def tracked() -> tuple[str, ...]:
    """The repository's text files: git's list, or (a copy without .git) the tree without its
    environments and build output, so the checks run either way."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True).stdout
        paths = out.split("\0")
    except (OSError, subprocess.CalledProcessError):
        skip = {"__pycache__", "build", "dist", "node_modules"}
        paths = [
            str(f.relative_to(ROOT))
            for f in ROOT.rglob("*")
            if not any(
                part.startswith(".") or part in skip or part.endswith(".egg-info") for part in f.relative_to(ROOT).parts
            )
        ]
    return tuple(p for p in paths if p.endswith(TEXT) and (ROOT / p).is_file())


def read(path: str) -> str:
    return (ROOT / path).read_text(encoding="utf-8", errors="replace")


def line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces → '-'."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    out = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        match = None if in_code else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return frozenset(out)


def broken(target: Path, anchor: str | None) -> str | None:
    """Why a link to `target` (+ `#anchor`) does not resolve, or None."""
    if not target.exists():
        return "no such file"
    if anchor and target.suffix == ".md" and anchor not in anchors(target):
        return f'no heading with the anchor "#{anchor}" in {target.relative_to(ROOT)}'
    return None


def test_no_tracked_file_points_to_notes_outside_the_repository():
    found = []
    for path in tracked():
        text = read(path)
        for m in OUTSIDE.finditer(text):
            found.append(f"{path}:{line_of(text, m.start())}: {m.group(0)!r}")
    assert found == [], "point to a file of the repository (docs/*.md) instead:\n" + "\n".join(found)


def test_every_relative_markdown_link_names_a_file_that_exists():
    found = []
    for path in tracked():
        text = read(path)
        for m in LINK.finditer(text):
            target = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("/"):
                continue  # a URL, or a path on the server (/api/…, /runs/…)
            file_part, _, anchor = target.partition("#")
            if not path.endswith(".md") and not FILE_LIKE.match(file_part):
                continue  # in code, `x[k](y)` is a call, not a link
            where = (ROOT / path).parent / file_part if file_part else ROOT / path
            why = broken(where.resolve(), anchor or None)
            if why:
                found.append(f"{path}:{line_of(text, m.start())}: ({target}): {why}")
    assert found == [], "\n".join(found)


def test_every_docs_page_mentioned_exists():
    found = []
    for path in tracked():
        text = read(path)
        for m in DOCS_PAGE.finditer(text):
            why = broken(ROOT / m.group(1), (m.group(2) or "#")[1:] or None)
            if why:
                found.append(f"{path}:{line_of(text, m.start())}: {m.group(0)}: {why}")
    assert found == [], "\n".join(found)
