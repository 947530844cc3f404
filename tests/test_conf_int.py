"""A fit's coefficient uncertainty (`Fit.cov_params`, `bse`, `conf_int`), held to the spread of the same law refitted
to many noisy draws of a sweep with known coefficients: the standard errors a single fit reports must match how far
the coefficients actually move."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import overtrain as ot
from overtrain.errors import OvertrainError
from overtrain.fitting.fit import fit_error, fit_loss

E, A, B, ALPHA = 1.8, 400.0, 900.0, 0.3
NOISE = 0.002  # relative, on every loss


def _sweep(seed: int) -> ot.RunTable:
    rng = np.random.default_rng(seed)
    rows = []
    for n in (2e7, 4e7, 8e7, 1.6e8, 3.2e8):
        for m in (10, 20, 40, 80):
            loss = E + A * n**-ALPHA + B * (m * n) ** -ALPHA
            rows.append({"run": f"r-{n:g}-{m}", "params": n, "tokens": m * n,
                         "loss:val": loss * (1 + NOISE * rng.standard_normal())})
    return ot.RunTable.from_frame(pd.DataFrame(rows))


def test_standard_errors_match_the_spread_of_refits_and_intervals_cover_the_truth() -> None:
    fits = [fit_loss(_sweep(seed), "val") for seed in range(200)]
    estimates = pd.DataFrame([fit.law.coefficients() for fit in fits])
    reported = pd.DataFrame([fit.bse for fit in fits]).median()
    for name in ("E", "alpha"):
        assert reported[name] == pytest.approx(estimates[name].std(), rel=0.25), name
    truth = {"E": E, "A": A, "B": B, "alpha": ALPHA}
    inside = np.mean([[row.low <= truth[name] <= row.high for name, row in fit.conf_int(0.9).iterrows()]
                      for fit in fits], axis=0)
    assert np.all((inside > 0.8) & (inside < 0.97)), inside


def test_conf_int_names_the_fitted_coefficients_and_refuses_what_it_cannot_say() -> None:
    fit = fit_loss(_sweep(0), "val")
    table = fit.conf_int(0.95)
    assert list(table.index) == ["E", "A", "B", "alpha"] and list(table.columns) == ["estimate", "low", "high"]
    assert np.all(table["low"] < table["estimate"]) and np.all(table["estimate"] < table["high"])
    assert fit.cov_params().shape == (4, 4)
    with pytest.raises(OvertrainError, match="level"):
        fit.conf_int(1.5)
    runs = ot.load_testbed().family("rpj")
    per_task = fit_error(runs, "c4_val", "17", law="per-task")
    with pytest.raises(OvertrainError, match="per task"):
        per_task.conf_int()
