"""A small pretrained VGG on the quadrant task and two runs through an α schedule, shared by the
tests of this folder (trained once per session)."""

import pytest
from branches.cases import quadrant_data, run, trained_vgg


@pytest.fixture(scope="session")
def data():
    return quadrant_data()


@pytest.fixture(scope="session")
def pretrained(data):
    return trained_vgg(data)


@pytest.fixture(scope="session")
def runs(pretrained, data):
    return {
        "trainable": run(pretrained, data, resume_lrs=[0.01], target_accuracy=1.0),
        "frozen": run(pretrained, data, pretrained="frozen"),
    }
