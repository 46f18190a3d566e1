"""Test-session defaults: notebooks run in the smoke profile; the user's cache is never touched."""

import os
import tempfile

os.environ.setdefault("COURSE_PROFILE", "smoke")
os.environ.setdefault("COURSE_CACHE", tempfile.mkdtemp(prefix="course-cache-"))
os.environ.setdefault("COURSE_RUNS", tempfile.mkdtemp(prefix="course-runs-"))
os.environ.setdefault("MPLBACKEND", "Agg")
