"""The tabulated chi-squared quantiles of the pause judgement against scipy, which they replace."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from respmon.signal.chi2 import TABLE_QUANTILES, build_table, chi2_ppf_over_dof, _table


def _exact(dof, q):
    dof = np.asarray(dof, dtype=float)
    return 2.0 * special.gammaincinv(dof / 2.0, q) / dof


def test_the_shipped_table_is_what_scipy_makes():
    assert np.allclose(_table(), build_table(), rtol=1e-12, atol=0.0)


@settings(max_examples=300)
@given(st.floats(1.0, 50_000.0), st.sampled_from(TABLE_QUANTILES))
def test_quantiles_match_scipy(dof, q):
    tolerance = 1e-6 if q > 0.5 else 2e-5
    assert chi2_ppf_over_dof(dof, q) == pytest.approx(_exact(dof, q), rel=tolerance)


def test_arrays_of_spans_as_the_pause_judgement_asks():
    dof = np.maximum(1.0, 2.0 * 0.47 * np.arange(30, 601) / 10.0)
    for q in TABLE_QUANTILES:
        assert np.allclose(chi2_ppf_over_dof(dof, q), _exact(dof, q), rtol=2e-5, atol=0.0)


@pytest.mark.parametrize("dof, q", [(0.5, 0.999), (float("nan"), 0.999), (10.0, 0.95)])
def test_outside_the_table_is_refused(dof, q):
    with pytest.raises(ValueError):
        chi2_ppf_over_dof(dof, q)
