"""Chi-squared quantiles for the pause judgement, without importing scipy at run time.

The pause judgement needs chi2.ppf(q, dof) / dof for two fixed q (1e-3 and 1 - 1e-3) at hundreds
of non-integer degrees of freedom a second. scipy.special.gammaincinv gives them exactly, but
importing scipy.special costs about 0.17 s of every start (a tenth of a minute-long replay on the
edge box). They are tabulated instead (chi2_table.npy, made by `python -m respmon.signal.chi2`
with scipy): log(ppf / dof) against log(dof) on 4096 points from 1 to 8192 dof, linearly
interpolated (within 1e-7 relative at q = 0.999 and 1e-5 at q = 0.001, measured against scipy by
tests/test_chi2.py); above 8192 dof the Wilson-Hilferty approximation (within 2e-6 there, better
above).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

TABLE_QUANTILES = (0.999, 0.001)
TABLE_POINTS = 4096
TABLE_MAX_DOF = 8192.0
TABLE_FILE = "chi2_table.npy"


def build_table() -> np.ndarray:
    """Rows: log dof, then for each of TABLE_QUANTILES log(ppf / dof); and the normal quantiles
    for Wilson-Hilferty in column 0 of a last row. Needs scipy (a developer's tool)."""
    from scipy import special

    log_dof = np.linspace(0.0, np.log(TABLE_MAX_DOF), TABLE_POINTS)
    dof = np.exp(log_dof)
    rows = [log_dof] + [np.log(2.0 * special.gammaincinv(dof / 2.0, q) / dof) for q in TABLE_QUANTILES]
    normal = np.zeros(TABLE_POINTS)
    normal[:len(TABLE_QUANTILES)] = [special.ndtri(q) for q in TABLE_QUANTILES]
    return np.vstack(rows + [normal])


@lru_cache(maxsize=1)
def _table() -> np.ndarray:
    with resources.files("respmon.signal").joinpath(TABLE_FILE).open("rb") as handle:
        return np.load(handle, allow_pickle=False)


def chi2_ppf_over_dof(dof: np.ndarray | float, q: float) -> np.ndarray | float:
    """chi2.ppf(q, dof) / dof for dof >= 1 and q one of TABLE_QUANTILES (a float for a scalar dof)."""
    if q not in TABLE_QUANTILES:
        raise ValueError(f"chi-squared quantiles are tabulated for q in {TABLE_QUANTILES}, not {q}")
    table = _table()
    row = 1 + TABLE_QUANTILES.index(q)
    dof = np.asarray(dof, dtype=float)
    if np.any(dof < 1.0) or not np.all(np.isfinite(dof)):
        raise ValueError("degrees of freedom must be finite and at least 1")
    ratio = np.array(np.exp(np.interp(np.log(dof), table[0], table[row])), dtype=float)
    above = dof > TABLE_MAX_DOF
    if np.any(above):
        z = table[-1, row - 1]
        k = dof[above]
        ratio[above] = (1.0 - 2.0 / (9.0 * k) + z * np.sqrt(2.0 / (9.0 * k))) ** 3
    return ratio if ratio.ndim else float(ratio)


if __name__ == "__main__":
    from pathlib import Path

    out = Path(__file__).with_name(TABLE_FILE)
    np.save(out, build_table(), allow_pickle=False)
    print(f"wrote {out}")
