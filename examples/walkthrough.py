# %% [markdown]
# # overtrain from Python: a sweep of two data recipes
#
# The notebook form of `examples/README.md` (`walkthrough.ipynb` holds the same cells; `tools/make_notebook.py`
# writes it from this file, and the tests run this file). It reads the sweep beside it, from any working folder
# (the notebook: from `examples/`, where Jupyter opens it, or the repository root). The sweep, `examples/sweep.csv`,
# was drawn from known laws (`tools/make_examples.py`), so every forecast below can be checked against the truth.

# %%
from pathlib import Path

import numpy as np
import pandas as pd

import overtrain as ot

try:  # the script's own folder
    HERE = Path(__file__).resolve().parent
except NameError:  # a notebook has none: Jupyter starts it in examples/, or it was started at the repository root
    HERE = Path() if Path("sweep.csv").is_file() else Path("examples")
runs = ot.read_runs(HERE / "sweep.csv")
runs.to_frame().head()

# %% [markdown]
# ## Fit the two laws of one recipe
# The loss split defaults as on the command line (the only one, here `val`); the task set is named.

# %%
web = runs.family("web")
loss = ot.fit_loss(web)
error = ot.fit_error(web, tasks="all")
print(loss.summary())
print(error.summary())

# %% [markdown]
# ## Forecast a 1.4B model at M = 20 and at 1T tokens, with 90% intervals
# `forecast_families` is what `overtrain forecast` runs: for each family the method, the calibrated intervals and
# the warnings. Each family's result has a DataFrame form.

# %%
targets = [ot.parse_target("params=1.4B,multiplier=20"), ot.parse_target("params=1.4B,tokens=1T")]
forecasts = ot.forecast_families(runs, runs.families, targets)
frame = pd.concat([family.to_frame() for family in forecasts], ignore_index=True)
frame[["family", "params", "tokens", "loss", "loss_low", "loss_high", "error_all", "error_all_low", "error_all_high"]]

# %% [markdown]
# The laws the sweep was drawn from give the true losses; each falls inside its interval.

# %%
truth = {"web": (1.85, 160.0, 280.0, 0.27), "web-filtered": (1.80, 170.0, 300.0, 0.27)}
for row in frame.itertuples():
    E, A, B, alpha = truth[row.family]
    true_loss = E + A * row.params**-alpha + B * row.tokens**-alpha
    print(f"{row.family:>12} D={row.tokens:.3g}: forecast {row.loss:.3f} [{row.loss_low:.3f}, {row.loss_high:.3f}],"
          f" truth {true_loss:.3f}")

# %% [markdown]
# ## Many sizes at once
# A fitted law predicts arrays in one call (point forecasts: intervals need the runs, as above).

# %%
sizes = np.geomspace(1e9, 1e10, 4)
curve = pd.DataFrame({"params": sizes, "loss": loss.predict(sizes, 20.0 * sizes)})
curve["error"] = error.predict(curve["loss"].to_numpy())
curve

# %% [markdown]
# ## Which recipe wins at 1.4B, and with what odds?

# %%
comparison = ot.compare_families(runs, ot.parse_target("params=1.4B,multiplier=20"))
comparison.to_frame()
