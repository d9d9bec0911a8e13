"""No blocking engine or store call on the event loop: in console/routes/, an `async def`
calls the engine or the store (or passes the store to a function) only inside
`await run_in_threadpool(...)`; routes that simply call the engine are plain `def`, which
FastAPI runs in its threadpool. A lambda or a nested function is work for later (it is
checked where it runs, usually inside run_in_threadpool)."""

from __future__ import annotations

import ast
from pathlib import Path

import console.routes

ROUTES = Path(console.routes.__file__).parent
BLOCKING = {"engine", "store"}  # names whose methods touch the database


def dotted(node: ast.AST) -> list[str]:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return parts[::-1]


def reaches_the_store(node: ast.AST) -> bool:
    return bool(BLOCKING & set(dotted(node)))


def blocking_calls(source: str, filename: str = "<routes>") -> list[str]:
    """`file:line: call` for every engine/store call of an async def not in run_in_threadpool."""
    found: list[str] = []

    def visit(node: ast.AST, offloaded: bool) -> None:
        if isinstance(node, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef):
            return  # deferred work: checked where it runs
        if isinstance(node, ast.Call):
            if dotted(node.func)[-1:] == ["run_in_threadpool"]:
                offloaded = True
            elif not offloaded and (
                (isinstance(node.func, ast.Attribute) and reaches_the_store(node.func.value))
                or any(reaches_the_store(a) for a in [*node.args, *(k.value for k in node.keywords)])
            ):
                found.append(f"{filename}:{node.lineno}: {ast.unparse(node)[:100]}")
        for child in ast.iter_child_nodes(node):
            visit(child, offloaded)

    for fn in ast.walk(ast.parse(source)):
        if isinstance(fn, ast.AsyncFunctionDef):
            for statement in fn.body:
                visit(statement, False)
    return found


def test_no_async_route_calls_the_engine_or_the_store_on_the_event_loop():
    files = sorted(ROUTES.glob("*.py"))
    assert len(files) > 5, "the routers were found"
    found = [hit for path in files for hit in blocking_calls(path.read_text(), path.name)]
    assert found == [], "make the route a plain def, or await run_in_threadpool(...):\n" + "\n".join(found)


def test_the_scan_finds_a_blocking_call_and_accepts_an_offloaded_one():
    bad = """
async def answer_post(token, request, ctx):
    page = ctx.engine.answer_page(token)
    account = auth.account_for_token(ctx.store, token)
    await run_in_threadpool(ctx.engine.answer_link, token, "home")
    await run_in_threadpool(lambda: ctx.engine.cancel(token, reason=None))
    return page

def plain(ctx):
    return ctx.engine.runs()
"""
    assert [hit.split(": ", 1)[1] for hit in blocking_calls(bad)] == [
        "ctx.engine.answer_page(token)",
        "auth.account_for_token(ctx.store, token)",
    ]
