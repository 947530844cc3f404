"""One law fitted to several families at once: shared exponents, each family its own linear coefficients.

For the shared-exponent loss law this is L_f(N, D) = E_f + A_f N^-alpha + B_f D^-alpha with one alpha for every
family f. Families trained the same way scale with the same exponent far more often than they share E, A, B;
pooling lets the families with many runs pin the exponent for those with few.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from overtrain.fitting.engine import screen_profile


@dataclass(frozen=True)
class Pooled:
    """The engine's view of `law` fitted to `n_groups` groups of runs at once.

    Its inputs are the law's inputs followed by each run's group index (0 to n_groups - 1); its basis places the
    law's columns (constant included) in the block of the run's group, so the linear coefficients are the law's,
    group after group, and the exponents `theta` are shared.
    """

    law: type
    n_groups: int

    intercept = False

    @property
    def theta_grids(self) -> tuple[np.ndarray, ...]:
        return self.law.theta_grids

    def basis(self, inputs: tuple[np.ndarray, ...], theta: np.ndarray) -> np.ndarray:
        """(..., n, n_groups * p): the law's basis in the columns of each run's group, zero elsewhere."""
        *law_inputs, group = inputs
        inner = self.law.basis(tuple(law_inputs), theta)
        p = inner.shape[-1]
        out = np.zeros((*inner.shape[:-1], self.n_groups * p))
        index = np.asarray(group, dtype=int)
        for g in range(self.n_groups):
            rows = index == g
            out[..., rows, g * p:(g + 1) * p] = inner[..., rows, :]
        return out

    def screen(self, inputs: tuple[np.ndarray, ...], y: np.ndarray, w: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """The profiled objective of every fit (rows of y, w) at every exponent of `theta` (G, d): the sum over
        groups of each group's own (the basis is block-diagonal), screened group by group (B, G)."""
        *law_inputs, group = inputs
        index = np.asarray(group, dtype=int)
        total = np.zeros((len(y), len(theta)))
        for g in range(self.n_groups):
            rows = index == g
            basis = self.law.basis(tuple(v[rows] for v in law_inputs), theta)
            total += screen_profile(basis, y[:, rows], w[:, rows], self.law.intercept)
        return total
