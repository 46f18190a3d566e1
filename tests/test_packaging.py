import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import yaml

from course_lib.assign.edition import write_edition
from course_lib.assign.grading import read_points
from course_lib.assign.hidden import load_hidden

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_and_pyproject_name_the_same_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert set(pip) - {"-e ."} == declared
    assert "-e ." in pip


def test_what_a_student_gets_holds_no_hidden_case(tmp_path):
    """The package as pip builds it from the repository, and the folder course assign writes:
    no hidden case, no file of hidden cases, no hidden check and no solution."""
    source = tmp_path / "source"  # built from a copy: pip leaves build/ in the tree it builds
    shutil.copytree(
        ROOT / "course_lib", source / "course_lib", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(tmp_path / "wheel"), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        package = {
            name: archive.read(name).decode("utf-8", "replace") for name in archive.namelist()
        }
    points = read_points(ROOT / "assignments" / "points.yaml")
    edition = write_edition(ROOT / "notebooks", tmp_path / "student", points.all_cells())
    handed_out = {path.name: path.read_text() for path in edition}
    secrets = [case.name for cases in load_hidden(ROOT / "assignments" / "hidden_cases.py").values()
               for case in cases]  # fmt: skip
    assert len(secrets) > 40
    assert not [name for name in package if name.endswith("hidden_cases.py")]
    for name, text in {**package, **handed_out}.items():
        found = [secret for secret in secrets if f'"{secret}"' in text or f"'{secret}'" in text]
        assert not found, (name, found)
        assert "HIDDEN = {" not in text, name
    for name, text in handed_out.items():
        assert "hidden=True" not in text and "BEGIN SOLUTION" not in text, name
