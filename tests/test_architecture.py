"""The floor plan holds: no import cycle, no arrow upward (core -> methods -> widgets -> assign
-> runs), no method importing another, and no module or function past one screen's worth of
concern."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "course_lib"
LAYERS = {
    "core": {
        "errors", "checks", "paths", "surgery", "costs", "data", "datafiles", "models", "train",
        "checkpoints", "profiles", "outputs", "plots", "artifacts", "specs", "network", "sandbox",
        "headless",
    },
    "methods": {"explore", "lc", "prune", "tucker", "branches"},
    "widgets": {"widgets"},
    "assignments": {"assign"},
    "runs": {"runs"},
}  # fmt: skip
RANK = {unit: rank for rank, units in enumerate(LAYERS.values()) for unit in units}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    relative = PACKAGE.parent.joinpath(*name.split("."))
    return relative.with_suffix(".py").is_file() or (relative / "__init__.py").is_file()


def imports_of(path: Path) -> set[str]:
    """The course_lib modules ``path`` imports (a name from a package counts as its submodule
    when it is one, else as the package's face)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("course_lib")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_lib"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if is_module(sub) else node.module)
    return found - {"course_lib"}


GRAPH = {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def unit(module: str) -> str:
    return module.split(".")[1]


def test_every_unit_has_a_layer():
    assert {unit(m) for m in GRAPH if m != "course_lib"} <= set(RANK)


def test_no_arrow_runs_upward_and_no_method_imports_another():
    wrong = []
    for module, targets in GRAPH.items():
        if module == "course_lib":
            continue
        for target in targets:
            source, dest = unit(module), unit(target)
            upward = RANK[dest] > RANK[source]
            sideways = source != dest and RANK[source] == RANK[dest] == RANK["prune"]
            if upward or sideways:
                wrong.append(f"{module} -> {target}")
    assert not wrong, wrong


def test_the_import_graph_has_no_cycle():
    state, stack = {}, []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target in sorted(GRAPH.get(module, ())):
            if state.get(target) == "open":
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(target) :] + [target]))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = "done"

    for module in GRAPH:
        if module not in state:
            visit(module)


def test_modules_and_functions_stay_small():
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(PACKAGE)}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}")
    assert not too_long, too_long
