"""Shared pytest fixtures: where the parity vectors made with the paper's code live."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests may download

import pytest
from restok_nb.official import reference_dir as _find_reference_dir


@pytest.fixture(scope="session")
def reference_dir():
    """The parity-vector folder (`$RESTOK_REFERENCE_DIR` or `../shared/reference`); skips the test where absent."""
    d = _find_reference_dir()
    if d is None:
        pytest.skip("parity vectors not found: set RESTOK_REFERENCE_DIR or place shared/reference beside the repo")
    return d
