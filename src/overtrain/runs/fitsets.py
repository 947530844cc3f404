"""Fit sets as data: named presets of the filter language, and the resolution of a user's spec."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from overtrain.errors import OvertrainError
from overtrain.runs.filters import Filter, parse_filter

_SMALL_SHAPES = ("d=96_l=8_h=4", "d=512_l=8_h=4", "d=576_l=24_h=8", "d=1024_l=24_h=8")
_PAPER_LOSS = " | ".join(f"shape={s},multiplier=20" for s in _SMALL_SHAPES) + " | shape=d=96_l=8_h=4,multiplier=320"


@dataclass(frozen=True)
class FitSet:
    """A named selection of runs: a preset name (or the expression itself) and its filter."""

    name: str
    expression: str
    description: str
    cheap: bool = False

    @property
    def filter(self) -> Filter:
        return parse_filter(self.expression)

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Which rows of a run table's frame the set selects. With `cheap`, each family's selection also takes
        every run of a smaller model than its largest, within its range of token multipliers, that costs no more
        than its second most expensive run: runs that are nearly free next to the set's compute. The multiplier
        range keeps out what the set avoided (the paper's sets avoid M = 5, where small runs follow no law)."""
        chosen = np.asarray(self.filter.mask(frame), dtype=bool)
        if not self.cheap:
            return chosen
        params, flops = np.asarray(frame["params"], dtype=float), np.asarray(frame["flops"], dtype=float)
        multiplier = np.asarray(frame["multiplier"], dtype=float)
        families = np.asarray(frame["family"])
        extra = np.zeros_like(chosen)
        for family in np.unique(families[chosen]):
            base = chosen & (families == family)
            costs = np.sort(flops[base])
            if len(costs) < 2:
                continue
            in_range = (multiplier >= multiplier[base].min()) & (multiplier <= multiplier[base].max())
            extra |= (families == family) & (params < params[base].max()) & (flops <= costs[-2]) & in_range
        return chosen | extra


PRESETS: dict[str, FitSet] = {
    fit_set.name: fit_set
    for fit_set in (
        FitSet(
            "paper-loss",
            _PAPER_LOSS,
            "Gadre et al. loss fit set: the four small shapes at M=20 plus the smallest at M=320",
        ),
        FitSet(
            "paper-error",
            _PAPER_LOSS + " | shape=open_lm_1b,multiplier=20",
            "Gadre et al. error fit set: the loss fit set plus the 1.4B run at M=20",
        ),
        FitSet(
            "paper-error-no-1b",
            _PAPER_LOSS,
            "the error fit set without the 1.4B run (paper Table 7)",
        ),
        FitSet("paper-targets", "params>=1e9", "Gadre et al. targets: every 1.4B and 6.9B run"),
        FitSet("all", "", "every run"),
    )
}


CHEAP_SUFFIX = "+cheap"


def resolve_fit_set(spec: str | FitSet) -> FitSet:
    """A preset by name, or any filter expression (validated when parsed); either may end in `+cheap` (see
    `FitSet.mask`)."""
    if isinstance(spec, FitSet):
        return spec
    if spec.endswith(CHEAP_SUFFIX) and len(spec) > len(CHEAP_SUFFIX):
        base = resolve_fit_set(spec[: -len(CHEAP_SUFFIX)])
        return FitSet(spec, base.expression, base.description + ", plus every cheaper run of a smaller model "
                      "than its largest (cost at most its second most expensive run)", cheap=True)
    if spec in PRESETS:
        return PRESETS[spec]
    if not any(op in spec for op in "=<>"):
        raise OvertrainError(
            f"unknown fit-set preset {spec!r} (presets: {', '.join(PRESETS)}; or a filter like params<=4e8)"
        )
    fit_set = FitSet(spec, spec, f"runs matching {spec}")
    fit_set.filter  # noqa: B018 - parse now so a malformed expression fails at once
    return fit_set
