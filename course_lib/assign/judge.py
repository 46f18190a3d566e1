"""Judging a submission's exercises in processes its notebook never touched.

The score of an exercise comes from here, never from what the student's kernel displayed:

* :func:`statements` takes the imports, definitions and literal constants of the submitted
  notebook's code cells (not the checks, not the experiments, not a cell that patches anything);
* a :class:`Contestant` (``assign.contestant``, in the submission's sandbox) runs them and calls
  the student's functions, with every library reference refusing to run;
* the cases (visible, and the instructor's hidden ones) run here, in the grader's process: each
  call of the student's function crosses to the contestant and back as plain data
  (``assign.wire``), so the student's code never sees a case's expected answer nor its verdict;
* :func:`copies.copied` flags a function that is the library's reference or the instructor's
  solution with its names changed.
"""

from __future__ import annotations

import ast
import select
import subprocess
import sys
import time
from dataclasses import dataclass, field

from course_lib.assign import copies, wire
from course_lib.assign.edition import is_check
from course_lib.assign.exercises import exercise, run_cases
from course_lib.assign.forbid import Delegated
from course_lib.assign.verdict import Verdict
from course_lib.sandbox import Sandbox

CASE_TIMEOUT = 20.0  # seconds one call of a student's function may take
STARTUP_TIMEOUT = 60.0  # seconds the contestant may take to import the library and load code
DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
PARAMETER_TAGS = {"parameters", "injected-parameters"}


class StudentError(Exception):
    """What the student's function raised in the contestant (``kind``: its type's name)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def _literal(node: ast.stmt) -> bool:
    if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
        return False
    try:
        ast.literal_eval(node.value)
    except ValueError:
        return False
    return True


def statements(notebook) -> list[str]:
    """The top-level imports, definitions and literal constants of every code cell but the
    checks and the parameters, in order (IPython's % and ! lines dropped)."""
    found = []
    for cell in notebook.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell.cell_type != "code" or is_check(cell) or tags & PARAMETER_TAGS:
            continue
        lines = cell.source.splitlines() if isinstance(cell.source, str) else []
        code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue  # the notebook run reports it
        found += [ast.unparse(n) for n in tree.body if isinstance(n, DEFINITIONS) or _literal(n)]
    return found


def _raised(kind: str, message: str) -> Exception:
    """The contestant's report of an exception, as the exception the cases expect."""
    if kind == "NotImplementedError":
        return NotImplementedError(message)
    if kind == "Delegated":
        return Delegated(message)
    return StudentError(kind, message)


class Contestant:
    """The student's functions in a sandboxed process, called across a pipe."""

    def __init__(self, code: list[str], sandbox: Sandbox, case_timeout: float = CASE_TIMEOUT):
        self.code, self.sandbox, self.case_timeout = code, sandbox, case_timeout
        self.process: subprocess.Popen | None = None
        self.failed: list[str] = []
        self.broken: str | None = None  # why the student's code could not even be loaded

    def _start(self) -> None:
        if self.broken:
            raise StudentError("Stopped", self.broken)
        try:
            self._load()
        except StudentError as exc:
            self.broken = f"the notebook's definitions could not be loaded: {exc}"
            raise StudentError("Stopped", self.broken) from None

    def _load(self) -> None:
        self.process = self.sandbox.popen(
            [sys.executable, "-I", "-m", "course_lib.assign.contestant"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._send({"statements": self.code})
        self.failed = self._receive(STARTUP_TIMEOUT)["failed"]

    def _send(self, message) -> None:
        try:
            wire.send(self.process.stdin.fileno(), wire.dumps_trusted(message))
        except BrokenPipeError:
            self._gone("the process ended")

    def _receive(self, seconds: float) -> dict:
        deadline = time.monotonic() + seconds
        out = self.process.stdout.fileno()
        while not select.select([out], [], [], 0.2)[0]:
            crossed = self.sandbox.crossed(self.process, deadline)
            if crossed == "timeout":
                self._gone(f"no answer within {seconds:g} s: stopped")
            if crossed:
                self._gone(self.sandbox.limits.crossed(crossed))
        try:
            payload = wire.receive(out, deadline)
        except (EOFError, wire.TimedOut):
            self._gone("the process ended before it answered")
        except wire.Unreadable as exc:  # the rest of the stream cannot be trusted either
            self._gone(str(exc))
        answer = wire.loads_answer(payload)  # a bad answer fails its case, the stream goes on
        if not isinstance(answer, dict):
            self._gone("an answer the grader cannot read")
        return answer

    def _gone(self, why: str):
        self.close()
        raise StudentError("Stopped", why)

    def call(self, name: str, args: tuple, kwargs: dict):
        """The student's ``name`` called on ``args``: its result, the arguments it changed
        copied back into ``args``; what it raised, raised here."""
        if self.process is None or self.process.poll() is not None:
            self._start()
        self._send({"name": name, "args": args, "kwargs": kwargs})
        reply = self._receive(self.case_timeout)
        if "raised" in reply:
            raise _raised(reply["raised"], reply.get("message", ""))
        for arg, changed in zip(args, reply.get("state", []), strict=False):
            wire.restore(arg, changed)
        return wire.decode(reply.get("result"))

    def function(self, name: str):
        """A stand-in for the student's ``name``; once a call was stopped (time, memory), the
        remaining calls fail at once with the same reason."""
        stopped = []

        def call(*args, **kwargs):
            if stopped:
                raise StudentError("Stopped", f"not run: {stopped[0]}")
            try:
                return self.call(name, args, kwargs)
            except StudentError as exc:
                if exc.kind == "Stopped":
                    stopped.append(str(exc))
                raise

        return call

    def close(self) -> None:
        if self.process is not None:
            self.sandbox.end(self.process)
        self.process = None


@dataclass
class Judged:
    """The verdicts by exercise, the exercises whose code is a copy (and of what), and the
    student's statements that raised in the contestant."""

    verdicts: dict[str, list[Verdict]] = field(default_factory=dict)
    copies: dict[str, str] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)


def judge(notebook, names, hidden: dict, sandbox: Sandbox, solutions: dict | None = None,
          case_timeout: float = CASE_TIMEOUT) -> Judged:  # fmt: skip
    """Every visible and hidden case of the exercises ``names`` on the student's functions in
    ``notebook``; ``solutions``: the instructor's exercise cells by name (for copies)."""
    code, judged = statements(notebook), Judged()
    contestant = Contestant(code, sandbox, case_timeout)
    try:
        for name in names:
            student = contestant.function(name)
            judged.verdicts[name] = [
                run_cases(name, exercise(name).visible, student, hidden=False),
                run_cases(name, hidden.get(name, ()), student, hidden=True),
            ]
        judged.failed = contestant.failed
    finally:
        contestant.close()
    defined = "\n".join(code)  # the student's functions, compared with what they must not copy
    for name in names:
        known = copies.originals(exercise(name), (solutions or {}).get(name))
        if copied := copies.copied(copies.find_function(defined, name), known):
            judged.copies[name] = copied
    return judged
