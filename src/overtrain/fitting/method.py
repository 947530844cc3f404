"""A forecasting method: the loss law and its objective, the error law, and the fit set of each."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from overtrain.laws import ENSEMBLE
from overtrain.names import DEFAULT_ERROR_LAW


@dataclass(frozen=True)
class Method:
    """A forecasting method: a loss law and objective, an error law, and the fit set of each (None: every
    run the protocol allows); with `loss_pooled`, the loss law is fitted to every family at once, exponents
    shared (`overtrain.fitting.fit.fit_loss_pooled`)."""

    loss_law: str = "shared-exponent"
    loss_objective: str = "least-squares"
    error_law: str = "exponential"
    loss_fit_set: str | None = None
    error_fit_set: str | None = None
    loss_pooled: bool = False

    @property
    def label(self) -> str:
        objective = "" if self.loss_objective == "least-squares" else f" ({self.loss_objective})"
        objective += " pooled over families" if self.loss_pooled else ""
        loss_set = f" on {self.loss_fit_set}" if self.loss_fit_set else ""
        error_set = f" on {self.error_fit_set}" if self.error_fit_set else ""
        return f"{self.loss_law}{objective}{loss_set} + {self.error_law}{error_set}"


PAPER_METHOD = Method()
#: The method every command forecasts and backtests with unless told: the paper's loss law and the development
#: suite's error law (`overtrain.names.DEFAULT_ERROR_LAW`). `fit` and `plan` fit and invert one law, the exponential:
#: an ensemble is a mean of forecasts, with no formula to fit or to solve for a size.
DEFAULT_METHOD = Method(error_law=DEFAULT_ERROR_LAW)


# The ENSEMBLE error "law" (`overtrain.laws.ENSEMBLE`): its forecast is the mean, on the logit scale, of the plausible
# member laws' forecasts; its fit part (resampling) is the exponential law's, moved to the mean.


def base_method(method: Method) -> Method:
    """The method whose laws are fitted and resampled: an ensemble's base error law is the exponential."""
    return dataclasses.replace(method, error_law="exponential") if method.error_law == ENSEMBLE else method
