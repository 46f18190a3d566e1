"""Notebook 05's fraction is now remove_fraction: the old name still works, warned."""

import pytest

from course_lib import profiles


def test_old_fraction_gives_remove_fraction_and_warns():
    cell = dict.fromkeys(profiles.load_profile_file("05_alpha_branch")["smoke"]) | {
        "profile": "smoke"
    }
    with pytest.warns(FutureWarning, match="'fraction' is now called 'remove_fraction'"):
        settings = profiles.resolve("05_alpha_branch", cell | {"fraction": 0.4})
    assert settings.remove_fraction == 0.4 and not hasattr(settings, "fraction")
    assert profiles.resolve("05_alpha_branch", cell).remove_fraction == 0.65
    assert profiles.renamed("05_alpha_branch", "fraction") == "remove_fraction"
