"""Copied code: a function's syntax tree once its docstring, comments, formatting and local
names are normalised, compared with the library's reference and the instructor's solution.
A function of fewer than :data:`MIN_NODES` syntax nodes (a few lines) is not compared: there the
natural answer and a copy look alike."""

from __future__ import annotations

import ast
import builtins
import copy
import functools
import inspect
import textwrap

from course_lib.assign.forbid import label

MIN_NODES = 100


class _Renamed(ast.NodeTransformer):
    """Local names (arguments and whatever the function binds) become v0, v1, … in order of
    first appearance; globals (torch, np, a helper) keep theirs."""

    def __init__(self, local: set[str]):
        self.local, self.names = local, {}

    def _name(self, name: str) -> str:
        if name not in self.local:
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.copy_location(ast.Name(self._name(node.id), node.ctx), node)

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return ast.copy_location(ast.arg(self._name(node.arg)), node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:  # a helper defined inside
        node.name = self._name(node.name)
        return self.generic_visit(node)


def _bound(function: ast.FunctionDef) -> set[str]:
    names = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.Lambda) and node is not function:
            names |= {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
            names |= {node.name} if isinstance(node, ast.FunctionDef) else set()
    return names - set(dir(builtins))


def fingerprint(function: ast.FunctionDef) -> str:
    """The function's arguments and body with local names and the docstring normalised."""
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    renamer = _Renamed(_bound(function))
    parts = [renamer.visit(copy.deepcopy(node)) for node in (function.args, *body)]
    return "\n".join(ast.dump(part, annotate_fields=False) for part in parts)


def find_function(source: str, name: str) -> ast.FunctionDef | None:
    """The top-level function ``name`` of ``source`` (None when absent or unparsable)."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return None
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    return found[-1] if found else None


@functools.cache  # the same for every submission of a class: read and parsed once
def originals(exercise, solution: str | None) -> dict[str, str]:
    """Fingerprints of what a student must not copy: the library's reference and helpers of
    ``exercise`` and the instructor's ``solution`` (source), by a label naming each."""
    found = {}
    for function in (exercise.library, *exercise.helpers):
        if not inspect.isfunction(function) or function.__name__ == "<lambda>":
            continue
        node = find_function(inspect.getsource(function), function.__name__)
        if node is not None:
            found[f"the library's {label(function, exercise.name)}"] = fingerprint(node)
    node = find_function(solution or "", exercise.name)
    if node is not None:
        found["the instructor's solution"] = fingerprint(node)
    return found


def copied(student: ast.FunctionDef | None, known: dict[str, str]) -> str | None:
    """Which original the student's function is, normalised (None: none of them)."""
    if student is None or sum(1 for _ in ast.walk(student)) < MIN_NODES:
        return None
    mark = fingerprint(student)
    return next((label for label, original in known.items() if original == mark), None)
