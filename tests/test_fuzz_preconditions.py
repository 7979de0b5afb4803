"""The fuzz catalog's preconditions (programs whose gradients are ambiguous are not drawn)."""

from __future__ import annotations

import numpy as np

from eagerjax._fuzz_catalog2 import _unique_along


def test_unique_along_sees_ties_over_all_elements():
    # Found by the thorough run (float32 chains, seed 3001): median(x0) of x0 = [0, 0, 0, 0]
    # was drawn, and torch and jax route the tie's gradient to different elements.
    assert not _unique_along(np.zeros(4, np.float32))
    assert not _unique_along(np.array([[1.0, 2.0], [2.0, 3.0]]))  # a tie across rows, dim=None
    assert _unique_along(np.array([[1.0, 2.0], [2.0, 3.0]]), dim=1)  # no tie within a row
    assert not _unique_along(np.array([[1.0, 1.0], [2.0, 3.0]]), dim=1)
    assert _unique_along(np.arange(5.0))
