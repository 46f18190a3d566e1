"""A sandbox for a submission's code: its own working copy, no network, limits, no reach.

Every process ``course grade`` starts for a submission (the notebook run, the contestant that
answers the checks) goes through :meth:`Sandbox.popen`. What it gets depends on what this
machine allows (:func:`isolation`):

* ``root``: new network, mount and PID namespaces (``unshare``): no network at all, the
  grader's folders (the submissions, the grades, the instructor's notebooks and hidden cases)
  hidden under empty read-only folders, /tmp, /var/tmp and /dev/shm of its own, no other
  process in sight; then an unprivileged user of its own (a fresh uid per sandbox) that owns
  nothing but its working copy;
* ``user-namespace`` (not root, but unprivileged user namespaces work): the same namespaces,
  as the grader's own user (files outside the hidden folders stay writable);
* ``none``: only the limits and the proxies that make downloads fail (said in the summary).

Always: resource limits (memory, CPU time, processes, file size) on each process, and the
grader watches the whole process tree (proportional memory and CPU time together, wall clock)
and ends it at the first limit it crosses, naming that limit.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

NO_NETWORK = {  # downloads fail at once even where no network namespace can be had
    name: "http://127.0.0.1:9"
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")
}
NAMESPACES = ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc"]
PRIVATE = ("/tmp", "/var/tmp", "/dev/shm")  # shared folders each sandbox gets fresh
WATCH_EVERY = 0.25  # seconds between two looks at a sandbox's processes
BACKSTOP = 2**30  # bytes each process may hold above the memory limit before it fails alone
FIRST_UID = 2_000_000  # sandbox users: far above any real account, one fresh uid each
_uids = itertools.count()


@dataclass(frozen=True)
class Limits:
    """``wall`` and ``cpu`` seconds, ``memory`` bytes (resident, all processes together),
    ``processes`` (threads count too), ``file_size`` bytes per file written."""

    wall: float = 600.0
    cpu: float = 1200.0
    memory: int = 3 * 2**30
    processes: int = 512
    file_size: int = 2**30

    def crossed(self, kind: str) -> str:
        """The one-line reason a run was ended at limit ``kind``."""
        return {
            "timeout": f"stopped at the time limit of {self.wall:g} s",
            "cpu": f"stopped at the CPU-time limit of {self.cpu:g} s",
            "memory": f"stopped at the memory limit of {self.memory / 2**30:.3g} GiB",
        }[kind]


@functools.cache
def isolation() -> str:
    """What this machine allows: ``root``, ``user-namespace`` or ``none`` (see the module)."""
    if shutil.which("unshare") is None:
        return "none"
    root = os.geteuid() == 0
    probe = NAMESPACES if root else [NAMESPACES[0], "--user", "--map-root-user", *NAMESPACES[1:]]
    ran = subprocess.run([*probe, "true"], capture_output=True, timeout=30)
    if ran.returncode != 0:
        return "none"
    return "root" if root else "user-namespace"


def describe() -> str:
    """One line for the summary: how submissions were isolated here."""
    return {
        "root": "each submission ran without network, as a user of its own, with the grader's "
        "folders hidden (Linux namespaces)",
        "user-namespace": "each submission ran without network and with the grader's folders "
        "hidden (user namespaces), but as the grader's user: not root, so no user of its own",
        "none": "no network or user isolation here (no unshare): submissions ran as the "
        "grader's user, with downloads refused by proxy settings only",
    }[isolation()]


def runtime() -> list[str]:
    """What every sandboxed process must reach: the interpreter, its libraries, this package."""
    import course_lib

    interpreter = os.path.dirname(os.path.realpath(sys.executable))
    libraries = [p for p in sys.path if os.path.isdir(p)]
    return [
        sys.prefix,
        sys.base_prefix,
        interpreter,
        *libraries,
        os.path.dirname(course_lib.__file__),
    ]


def blocked(paths) -> dict[str, list[str]]:
    """Folders other users cannot enter (such as /root, when Python lives under it), each with
    the entries below it that ``paths`` need: the sandbox shows only those entries there."""
    found: dict[str, set[str]] = {}
    for path in map(Path, paths):
        for ancestor in reversed(path.parents):  # from the top: an outer folder is shown first
            if not ancestor.stat().st_mode & 0o001:
                child = path.relative_to(ancestor).parts[:1]
                found.setdefault(str(ancestor), set()).update(child)
    ordered = sorted(found, key=lambda folder: len(Path(folder).parts))
    return {folder: sorted(found[folder]) for folder in ordered}


class Sandbox:
    """Processes for one submission, working in ``work`` (its copy), limited by ``limits``,
    with the folders ``hide`` out of their sight."""

    def __init__(self, work: Path, limits: Limits, hide=(), reach=(), env: dict | None = None):
        self.work, self.limits, self.env = Path(work), limits, dict(env or {})
        self.peak = 0.0  # the most resident memory its processes held together, as watched
        shown = sorted({Path(p).resolve() for p in hide if Path(p).exists()})
        self.hide = [str(p) for p in shown if not any(p.is_relative_to(q) for q in shown if q != p)]
        self.reach = tuple(str(Path(p).resolve()) for p in [*runtime(), *reach] if Path(p).exists())
        self.uid = FIRST_UID + (os.getpid() * 1000 + next(_uids)) % 1_000_000

    def environment(self, extra: dict | None = None) -> dict:
        home = str(self.work)
        return {**os.environ, **NO_NETWORK, "HOME": home, "TMPDIR": str(self.work / "tmp"),
                "MPLCONFIGDIR": str(self.work / "tmp"), **self.env, **(extra or {})}  # fmt: skip

    def popen(self, argv: list[str], extra_env: dict | None = None, **options) -> subprocess.Popen:
        """Start ``argv`` in the sandbox (``options`` go to subprocess.Popen)."""
        (self.work / "tmp").mkdir(parents=True, exist_ok=True)
        kind = isolation()
        if kind == "root":
            _own(self.work, self.uid)
        config = {
            "namespaces": kind != "none",
            "hide": self.hide if kind != "none" else [],
            "work": str(self.work),
            "uid": self.uid if kind == "root" else None,
            "expose": blocked(self.reach) if kind == "root" else {},
            "limits": vars(self.limits),
        }
        inner = [sys.executable, "-m", "course_lib.sandbox", json.dumps(config), *argv]
        if kind == "user-namespace":
            inner = [NAMESPACES[0], "--user", "--map-root-user", *NAMESPACES[1:], *inner]
        elif kind == "root":
            inner = [*NAMESPACES, *inner]
        return subprocess.Popen(
            inner, env=self.environment(extra_env), cwd=self.work, start_new_session=True,
            **options,
        )  # fmt: skip

    def wait(self, process: subprocess.Popen, deadline: float) -> str | None:
        """Wait for ``process`` until ``deadline`` (time.monotonic), watching its tree: None when
        it ended by itself, else the limit (timeout, cpu, memory) at which it was ended."""
        while process.poll() is None:
            crossed = self.crossed(process, deadline)
            if crossed:
                self.end(process)
                return crossed
            time.sleep(WATCH_EVERY)
        self.end(process)
        return None

    def end(self, process: subprocess.Popen) -> None:
        """End ``process``, its tree and anything else this sandbox's user still runs (a
        process the submission left behind is gone before grading goes on)."""
        import psutil

        kill_tree(process)
        if isolation() != "root":
            return
        users = psutil.process_iter(["uids"])
        left = [p for p in users if p.info["uids"] and p.info["uids"].real == self.uid]
        for member in left:
            try:
                member.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(left, timeout=10)

    def crossed(self, process: subprocess.Popen, deadline: float) -> str | None:
        """The limit ``process`` and its children are past now, if any. Memory is their
        resident memory together; above the limit, their proportional memory decides (pages a
        fork shares count once), so a fork is not stopped for what it shares."""
        import psutil

        if time.monotonic() > deadline:
            return "timeout"
        try:
            family = [psutil.Process(process.pid)]
            family += family[0].children(recursive=True)
        except psutil.NoSuchProcess:
            return None
        resident, cpu = _total(family, lambda p: p.memory_info().rss), _total(family, _cpu)
        self.peak = max(self.peak, resident)
        if resident > self.limits.memory:
            if _total(family, lambda p: p.memory_full_info().pss) > self.limits.memory:
                return "memory"
        return "cpu" if cpu > self.limits.cpu else None


def _cpu(process) -> float:
    return sum(process.cpu_times()[:4])  # user and system, its own and its waited children's


def _total(family, measure) -> float:
    """``measure`` summed over the processes still there."""
    import psutil

    total = 0.0
    for member in family:
        try:
            total += measure(member)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def kill_tree(process: subprocess.Popen) -> None:
    """End ``process`` and everything it started."""
    import psutil

    try:
        family = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    for member in [*family, process]:
        try:
            member.kill()
        except (psutil.NoSuchProcess, ProcessLookupError):
            pass
    process.wait()


def _own(work: Path, uid: int) -> None:
    """Give the working copy to the sandbox's user (and no one else)."""
    for path in [work, *work.rglob("*")]:
        os.lchown(path, uid, uid)
    work.chmod(0o700)


def _mount(*arguments: str) -> None:
    subprocess.run(["mount", *arguments], check=True)


def _expose(folder: str, entries: list[str]) -> None:
    """Show only ``entries`` of ``folder`` (one others cannot enter), and let others enter."""
    stage = tempfile.mkdtemp(prefix="course-stage-")
    _mount("--bind", folder, stage)
    _mount("-t", "tmpfs", "-o", "mode=0711", "tmpfs", folder)
    for entry in entries:
        inside = Path(folder) / entry
        inside.mkdir() if (Path(stage) / entry).is_dir() else inside.touch()
        _mount("--bind", str(Path(stage) / entry), str(inside))
    subprocess.run(["umount", "-l", stage], check=True)


def _private_temporary(work: str) -> None:
    """Fresh shared temporary folders (/tmp, /var/tmp, /dev/shm) seen by this sandbox alone;
    the working copy stays at its path when it lies under one of them."""
    keep = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
    for folder in PRIVATE:
        if os.path.isdir(folder):
            _mount("-t", "tmpfs", "-o", "mode=1777", "tmpfs", folder)
    if not os.path.isdir(work):
        os.makedirs(work)
        _mount("--no-canonicalize", "--bind", f"/proc/{os.getpid()}/fd/{keep}", work)
    os.close(keep)


def _enter(config: dict) -> None:
    """Inside the namespaces: show the interpreter, hide the grader's folders, give this
    sandbox its own temporary folders, set the limits, become the user."""
    for folder, entries in config["expose"].items():
        _expose(folder, entries)
    for path in config["hide"]:
        if Path(path).is_dir():
            _mount("-t", "tmpfs", "-o", "size=4k,mode=0555", "tmpfs", path)
        else:
            _mount("--bind", os.devnull, path)
    if config["namespaces"]:
        _private_temporary(config["work"])
    limits = config["limits"]
    chosen = [
        (resource.RLIMIT_DATA, limits["memory"] + BACKSTOP),
        (resource.RLIMIT_CPU, int(limits["cpu"]) + 1),
        (resource.RLIMIT_FSIZE, limits["file_size"]),
        (resource.RLIMIT_CORE, 0),
    ]
    if config["uid"] is not None:  # a count per user: only meaningful for a user of its own
        chosen.append((resource.RLIMIT_NPROC, limits["processes"]))
    for limit, value in chosen:
        resource.setrlimit(limit, (value, value))
    if config["uid"] is not None:
        os.setgroups([])
        os.setgid(config["uid"])
        os.setuid(config["uid"])
    os.chdir(config["work"])


if __name__ == "__main__":
    _enter(json.loads(sys.argv[1]))
    os.execvp(sys.argv[2], sys.argv[2:])
