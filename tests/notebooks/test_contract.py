"""Every committed notebook follows the contract: a parameters cell that papermill reads, each
parameter documented in the README and read by the profile resolver, no outputs."""

from pathlib import Path

import nbformat
import pytest
from papermill.translators import PythonTranslator

from course_lib import profiles

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_every_assignment_part_has_its_notebook():
    assert [nb.stem for nb in NOTEBOOKS] == [
        "01_training",
        "02_lc_compression",
        "03_pruning",
        "04_tucker",
        "05_alpha_branch",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_readme_documents_every_parameter(path):
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    readme = (ROOT / "README.md").read_text()
    for line in cell.source.splitlines():
        if line and not line.startswith("#"):
            assert line in readme, f"README lacks {path.stem}'s parameter line {line!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_reads_every_parameter_line(path):
    """papermill skips a parameter line it cannot parse (an "=" in its comment is enough): it
    logs a warning at every run and calls the parameter unknown when one injects it."""
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assignments = [line.split(" = ")[0] for line in cell.source.splitlines() if " = " in line]
    parsed = PythonTranslator.inspect({"source": cell.source})
    assert [p.name for p in parsed] == [a for a in assignments if not a.startswith("#")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_profile_setting_is_a_parameter_read_by_resolve(path):
    """Every setting is a parameter, and the notebook hands all its parameters to resolve."""
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    parameters = {p.name for p in PythonTranslator.inspect({"source": cell.source})}
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    settings = set().union(*(profiles.load_profile_file(path.stem).values()))
    assert settings <= parameters, f"not notebook parameters: {settings - parameters}"
    assert f'profiles.resolve("{path.stem}", globals())' in code


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_committed_without_outputs_and_with_a_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "run `make strip`"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for name in ("dataset", "model", "profile", "seed", "output_dir"):
        assert f"\n{name} = " in "\n" + tagged[0].source
    assert nb.cells[0].cell_type == "markdown"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_spec_checks_every_parameter_and_the_cell_documents_its_choices(path):
    """course_lib/specs holds a rule for every name of the parameters cell (profile aside, which
    profiles.resolve reads itself), and a parameter's comment lists the choices its rule allows."""
    from course_lib import specs
    from course_lib.specs.rules import Choice, ListOf, Optional

    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    parsed = {p.name: p.help for p in PythonTranslator.inspect({"source": cell.source})}
    rules = specs.spec_of(path.stem).parameters
    assert set(rules) | {"profile"} == set(parsed)
    for name, rule in rules.items():
        while isinstance(rule, Optional | ListOf):
            rule = rule.inner if isinstance(rule, Optional) else rule.item
        if isinstance(rule, Choice) and isinstance(rule.values[0], str) and parsed[name]:
            missing = [v for v in rule.values if v not in parsed[name]]
            assert not missing, f"{path.stem}: {name}'s comment lacks {missing}"
