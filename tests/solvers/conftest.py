"""The solver tests' independent reference: a matrix game's value from scipy's HiGHS."""

import numpy as np
import pytest
from scipy.optimize import linprog


def _highs_value(A):
    """Value of the zero-sum game ``A`` (max_x min_j (x^T A)_j) from HiGHS on the row
    player's LP."""
    m, n = A.shape
    res = linprog(
        np.r_[np.zeros(m), -1.0],
        A_ub=np.hstack([-A.T, np.ones((n, 1))]),
        b_ub=np.zeros(n),
        A_eq=np.r_[np.ones(m), 0.0][None],
        b_eq=[1.0],
        bounds=[(0, None)] * m + [(None, None)],
        method="highs",
    )
    return -res.fun


@pytest.fixture(scope="session")
def highs_value():
    """``highs_value(A)``: see :func:`_highs_value`."""
    return _highs_value
