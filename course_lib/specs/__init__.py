"""The parameters of the course notebooks: a rule per parameter (type, range, choice) and the
relations between them (the model's layers included), checked by ``profiles.resolve`` in the
notebook's first cell and by ``course run`` before anything runs. One spec per notebook, kept
in step with its ``parameters`` cell by tests/notebooks/test_contract.py."""

from course_lib.errors import CourseError
from course_lib.specs.notebooks import SPECS
from course_lib.specs.spec import Relation, Spec


def spec_of(notebook: str) -> Spec:
    """The spec of ``notebook`` ("03_pruning")."""
    if notebook not in SPECS:
        raise CourseError(
            f"No parameter spec for {notebook!r}: add one to course_lib/specs/notebooks.py "
            f"(the notebooks with one: {', '.join(SPECS)})."
        )
    return SPECS[notebook]


__all__ = ["SPECS", "Relation", "Spec", "spec_of"]
