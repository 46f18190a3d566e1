"""The contestant: a process that holds a student's functions and calls them for the grader.

``python -m course_lib.assign.contestant`` (started by ``assign.judge``, inside the sandbox)
reads the student's code from the grader, then answers one call after another. Before any of
the student's code runs it

* imports the modules the student's statements name, then swaps every exercise's reference
  for a refusal for good
  (``forbid.refuse_all``): a student's function that delegates gets an error, not an answer;
* adds an audit hook, which nothing can remove: no new process, no ctypes, no walk of the
  garbage collector, no socket, no link, no reading of the library's source (so no fresh copy
  of a reference).

The verdict is never computed here: the grader judges the answers in its own process.
"""

from __future__ import annotations

import ast
import importlib
import os
import pickle
import sys
import warnings
from pathlib import Path

import course_lib
from course_lib.assign import forbid, wire

REFUSED_EVENTS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                  "os.fork", "os.forkpty", "pty.spawn", "gc.get_referrers", "gc.get_referents",
                  "gc.get_objects", "socket.", "os.link", "os.symlink")  # fmt: skip
LIBRARY = Path(course_lib.__file__).resolve().parent


def import_named(statements: list[str]) -> None:
    """The exercises' registry and every module the student's statements import, imported now,
    before the audit hook (an import may start a process, as matplotlib's font cache does, or
    read the library's files); the statements then only bind what is already loaded."""
    wanted = ["course_lib.assign"]
    for source in statements:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                wanted += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                wanted += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    for name in dict.fromkeys(wanted):
        try:
            importlib.import_module(name)
        except Exception:  # a name imported from a module, or a module that is not there
            pass


def _audit(event: str, args) -> None:
    if event.startswith(REFUSED_EVENTS) or event.startswith("ctypes."):
        raise RuntimeError(f"the grader runs exercise functions without {event}")
    if event == "open" and isinstance(args[0], str | bytes | os.PathLike):
        path = os.fsdecode(args[0])
        if path.endswith("/mem") and path.startswith("/proc/"):
            raise RuntimeError("the grader runs exercise functions without /proc/*/mem")
        if Path(os.path.realpath(path)).is_relative_to(LIBRARY):
            raise RuntimeError("the grader runs exercise functions without the library's source")


def load(statements: list[str]) -> tuple[dict, list[str]]:
    """The student's statements run one by one into a fresh namespace; the ones that raised."""
    namespace, failed = {"__name__": "__main__"}, []
    for index, source in enumerate(statements):
        try:
            exec(compile(source, f"<student statement {index}>", "exec"), namespace)
        except BaseException as exc:  # the student's code: its failure is only recorded
            failed.append(f"{source.splitlines()[0][:80]}: {type(exc).__name__}: {exc}")
    return namespace, failed


def answer(namespace: dict, call: dict) -> dict:
    """One call of the student's function ``call['name']``: its result and changed arguments,
    or why there is none."""
    function = namespace.get(call["name"])
    if not callable(function):
        return {"raised": "NameError", "message": f"no function {call['name']} in the notebook"}
    try:
        result = function(*call["args"], **call["kwargs"])
        return {"result": wire.encode(result), "state": [wire.state(a) for a in call["args"]]}
    except NotImplementedError as exc:
        return {"raised": "NotImplementedError", "message": str(exc)}
    except forbid.Delegated as exc:
        return {"raised": "Delegated", "message": str(exc)}
    except BaseException as exc:  # anything the student's code raises is its answer
        text = str(exc).strip().splitlines()
        return {"raised": type(exc).__name__, "message": text[0] if text else ""}


def main() -> int:
    protocol_in, protocol_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(2, 1)  # the student's prints go where the grader's stderr goes, not into answers
    warnings.simplefilter("ignore")
    code = pickle.loads(wire.receive(protocol_in))
    import_named(code["statements"])
    forbid.refuse_all(course_lib.assign.EXERCISES.values())
    sys.addaudithook(_audit)
    namespace, failed = load(code["statements"])
    wire.send(protocol_out, wire.dumps_answer({"failed": failed}))
    while True:
        try:
            call = pickle.loads(wire.receive(protocol_in))
        except EOFError:
            return 0
        reply = answer(namespace, call)
        try:
            payload = wire.dumps_answer(reply)
        except Exception as exc:  # an answer torch.save cannot write
            payload = wire.dumps_answer({"raised": "TypeError", "message": str(exc)[:200]})
        wire.send(protocol_out, payload)


if __name__ == "__main__":
    sys.exit(main())
