"""Notebook 02's prune_fractions is now keep_fractions: the old name still works, warned."""

import pytest

from course_lib import profiles


def test_old_prune_fractions_gives_keep_fractions_and_warns():
    cell = dict.fromkeys(profiles.load_profile_file("02_lc_compression")["smoke"]) | {
        "profile": "smoke"
    }
    with pytest.warns(FutureWarning, match="'prune_fractions' is now called 'keep_fractions'"):
        settings = profiles.resolve("02_lc_compression", cell | {"prune_fractions": [0.2, 0.1]})
    assert settings.keep_fractions == [0.2, 0.1] and not hasattr(settings, "prune_fractions")
    assert profiles.renamed("02_lc_compression", "prune_fractions") == "keep_fractions"
