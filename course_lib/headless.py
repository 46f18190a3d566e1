"""One notebook run headless under papermill, with the kernel settings every run shares.

``KERNEL_ARGUMENTS`` and ``kernel_config`` are what ``course run`` and ``course grade`` give each
kernel. ``python -m course_lib.headless JOB`` (JSON: notebook, executed, parameters, cwd, kernel)
is the process ``course grade`` starts in a submission's sandbox: every cell runs even after one
raised; it exits 0 when none raised, else 1 with a last line on stderr that says why. It imports
papermill and nothing heavy of the kit's, so a sandbox starts fast.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]
NOTEBOOK_RAISED = "some cells raised"


def kernel_config(sockets: Path):
    """Kernel connections over Unix sockets in a folder of this run's own: kernels started at
    the same moment (a sweep) then cannot pick the same TCP port and hang. TCP on Windows."""
    from traitlets.config import Config

    if os.name == "nt":
        return Config()
    return Config({"KernelManager": {"transport": "ipc", "ip": str(sockets / "kernel")}})


def execute_all(job: dict) -> int:
    """Run ``job["notebook"]`` into ``job["executed"]``, every cell even after one raised."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    with tempfile.TemporaryDirectory(prefix="course-kernel-") as sockets:
        try:
            papermill.execute_notebook(
                job["notebook"], job["executed"], parameters=job["parameters"], cwd=job["cwd"],
                kernel_name=job["kernel"], progress_bar=False, start_timeout=180,
                extra_arguments=KERNEL_ARGUMENTS, config=kernel_config(Path(sockets)),
                allow_errors=True,
            )  # fmt: skip
        except PapermillExecutionError:
            print(NOTEBOOK_RAISED, file=sys.stderr)
            return 1
        except Exception as exc:  # the kernel died, or would not start: the run broke off
            print(
                f"the run broke off: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr
            )
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(execute_all(json.loads(sys.argv[1])))
