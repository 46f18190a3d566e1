"""Notebook 04's fine_tune_* parameters are now finetune_*: the old names still work, warned."""

import pytest

from course_lib import profiles


def test_old_finetune_names_give_the_new_settings_and_warn():
    cell = dict.fromkeys(profiles.load_profile_file("04_tucker")["smoke"]) | {"profile": "smoke"}
    injected = cell | {"fine_tune_epochs": 4, "fine_tune_ks": [8]}
    with pytest.warns(FutureWarning) as caught:
        settings = profiles.resolve("04_tucker", injected)
    messages = " ".join(str(warning.message) for warning in caught)
    assert "'fine_tune_epochs' is now called 'finetune_epochs'" in messages
    assert "'fine_tune_ks' is now called 'finetune_ks'" in messages
    assert settings.finetune_epochs == 4 and settings.finetune_ks == [8]
    assert settings.finetune_lr == 0.01 and not hasattr(settings, "fine_tune_epochs")
    assert profiles.renamed("04_tucker", "fine_tune_subset") == "finetune_subset"
