"""The code's shape, pinned: no import cycle inside or between the packages (imports inside
functions included), no private name used outside its module, and the state machine asks the
step-kind registry rather than `if kind == …`."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("runbooks", "flows", "notifications", "console")


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Lines inside `if TYPE_CHECKING:` blocks: annotations, not imports at run time."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def import_graph() -> dict[str, set[str]]:
    """module → the project modules it imports, anywhere in its body (functions too)."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        skip = _type_checking_only(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                # `from x import y`: y may be a module of package x
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_module_imports_itself_back_through_others():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    assert "flows.kinds" in graph["flows.machine"]
    assert "flows.store" in graph["flows.runstate"]


def test_packages_import_one_way():
    order = {"runbooks": 0, "notifications": 1, "flows": 2, "console": 3}
    wrong = [
        f"{a} -> {b}"
        for a, targets in import_graph().items()
        for b in targets
        if order[b.split(".")[0]] > order[a.split(".")[0]]
    ]
    assert not wrong


def test_no_private_name_is_used_outside_its_module():
    """`module._name` and `from module import _name` across modules, `obj._attr` of another
    module's object (`plan._by_id`) are refused; dunders and a module's own names are fine."""
    modules = _modules()
    own_attrs = {name: _defined_names(ast.parse(path.read_text())) for name, path in modules.items()}
    bad = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                bad += [f"{path.name}:{node.lineno}: imports {a.name}" for a in node.names if _private(a.name)]
            elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own_attrs[name]:
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: uses .{node.attr}")
    assert not bad, "\n".join(bad)


def _defined_names(tree: ast.Module) -> set[str]:
    """Names a module defines: functions, classes, assigned names and attributes, arguments."""
    names: set[str] = set()

    def targets(t: ast.expr) -> None:
        if isinstance(t, ast.Attribute):
            names.add(t.attr)
        elif isinstance(t, ast.Name):
            names.add(t.id)
        elif isinstance(t, (ast.Tuple, ast.List)):
            for e in t.elts:
                targets(e)

    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, ast.Assign):
            for t in n.targets:
                targets(t)
        elif isinstance(n, (ast.AnnAssign, ast.AugAssign)):
            targets(n.target)
        elif isinstance(n, ast.arguments):
            names.update(a.arg for a in n.posonlyargs + n.args + n.kwonlyargs)
    return names


# Libraries' own API whose names start with one underscore (SQLAlchemy rows, jinja2's Undefined).
LIBRARY_NAMES = frozenset({"_mapping", "_asdict", "_fields", "_undefined_message"})


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in LIBRARY_NAMES


def test_the_state_machine_asks_the_kind_registry_not_the_kind_name():
    """No `x.kind == "…"` / `kind in (…)` in the modules that move tasks: kinds are plug-ins."""
    bad = []
    for module in ("machine", "states", "session", "work", "timers", "objectives", "task_ops", "runstate"):
        path = ROOT / "flows" / f"{module}.py"
        for node in ast.walk(ast.parse(path.read_text())):
            sides = [node.left, *node.comparators] if isinstance(node, ast.Compare) else []
            if any(_is_kind(side) for side in sides) and any(_is_literal(side) for side in sides):
                bad.append(f"flows/{module}.py:{node.lineno}")
    assert not bad, "kind compared by name: " + ", ".join(bad)


def _is_kind(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "kind") or (
        isinstance(node, ast.Subscript) and getattr(node.slice, "value", None) == "kind"
    )


def _is_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    return isinstance(node, (ast.Tuple, ast.List, ast.Set)) and all(isinstance(e, ast.Constant) for e in node.elts)
