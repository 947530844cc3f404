"""Fitting a law to runs: the user-facing `fit_loss`, `fit_loss_pooled` and `fit_error`, and the immutable `Fit` they
return. The numerical work is `overtrain.fitting.solve` (batched variable projection)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overtrain.errors import OvertrainError, renamed
from overtrain.fitting.chance import chance_error, solve_two_step, task_bounds, task_chance, task_losses
from overtrain.fitting.engine import distinct_points
from overtrain.fitting.solve import group_identifies, linear_count, solve_law, solve_pooled
from overtrain.laws import Law, law_class
from overtrain.laws.loss import SharedExponentLoss, holding_out, identifiable_form
from overtrain.quantities import Quantity
from overtrain.runs.fitsets import FitSet, resolve_fit_set
from overtrain.runs.table import ACC, CHECKPOINT_OF, LOSS, TASKLOSS, RunTable
from overtrain.runs.tasks import TaskSet


@dataclass(frozen=True)
class PooledData:
    """Every fit run of a pooled fit (`fit_loss_pooled`): what resampling it needs, beyond one family's runs."""

    inputs: tuple[np.ndarray, ...]
    observed: np.ndarray
    group: np.ndarray
    noise: np.ndarray
    member: int

    def __repr__(self) -> str:
        return f"PooledData({len(self.observed)} runs in {int(self.group.max()) + 1} families)"


@dataclass(frozen=True)
class Fit:
    """An immutable fitted law with the data it was fitted to; describes itself with `summary`/`to_dict`."""

    quantity: Quantity
    law: Law
    family: str
    fit_set: str
    runs: tuple[str, ...]
    inputs: tuple[np.ndarray, ...]
    observed: np.ndarray
    response: str
    loss_split: str
    task_set: TaskSet | None
    fit_flops: float
    at_bound: bool
    objective: str = "least-squares"
    noise: np.ndarray | None = None
    pooled: tuple[str, ...] = ()
    pooled_data: PooledData | None = None
    #: The compute of the fit set's most expensive run (NaN where unknown: a law file written before it was kept).
    largest_flops: float = float("nan")
    #: Intermediate checkpoints of the runs fitted beside them (an error law of the loss alone): their ids, and the
    #: run each is a checkpoint of; their points follow the runs' in `inputs` and `observed`.
    checkpoints: tuple[str, ...] = ()
    checkpoint_of: tuple[str, ...] = ()

    @property
    def n_runs(self) -> int:
        return len(self.runs)

    @property
    def n_points(self) -> int:
        """The points fitted: one per run and one per checkpoint."""
        return len(self.observed)

    @property
    def units(self) -> np.ndarray:
        """The run each point belongs to, as an index into `runs` (n_points,): a run and its checkpoints are one
        unit of resampling."""
        if self.n_points == self.n_runs:  # no checkpoints, or only inside the law (the two-step law's step 2)
            return np.arange(self.n_runs)
        position = {run: i for i, run in enumerate(self.runs)}
        return np.array([*range(self.n_runs), *(position[run] for run in self.checkpoint_of)], dtype=np.intp)

    @property
    def predicted(self) -> np.ndarray:
        """The law's prediction for each fit run."""
        return np.asarray(self.law.predict(*self.inputs))

    @property
    def residuals(self) -> np.ndarray:
        """observed - predicted, per fit run."""
        return self.observed - self.predicted

    @property
    def sse(self) -> float:
        """The least-squares objective: sum of squared residuals."""
        return float(np.sum(self.residuals**2))

    @property
    def rmse(self) -> float:
        return float(np.sqrt(np.mean(self.residuals**2)))

    def fitted_coefficients(self) -> tuple[str, ...]:
        """The coefficients the fit estimated: the law's scalar coefficients, less a constant it was given (its
        `offset`) and terms it holds out (`unidentified`)."""
        given = {self.law.offset, *self.law.unidentified}
        return tuple(name for name, value in dataclasses.asdict(self.law).items()
                     if name not in given and isinstance(value, (int, float)) and not isinstance(value, bool))

    def cov_params(self) -> pd.DataFrame:
        """The coefficients' covariance by least-squares asymptotics: s^2 (J'J)^-1, with J the Jacobian of the fit
        runs' predictions in the coefficients (central differences) and s^2 = SSE / (n - p) over the n distinct
        points. For a law of tuples (per task) or a fit without residual degrees of freedom it is refused; for a
        small fit set the resampled spread (`overtrain.trust.bootstrap.bootstrap`) says more."""
        names = self.fitted_coefficients()
        if self.law.by_task or not names:
            raise OvertrainError(f"coefficient covariance is not available for the {self.law.name} law (a law per "
                                 "task): resample it with overtrain.trust.bootstrap")
        free = self.n_points - len(names)
        if free < 1:
            raise OvertrainError(f"the {self.law.name} fit has {self.n_points} points for {len(names)} coefficients: "
                                 "no residual degrees of freedom to estimate their spread from")
        values = dataclasses.asdict(self.law)
        columns = []
        for name in names:
            step = 1e-6 * max(abs(values[name]), 1e-8)
            up = dataclasses.replace(self.law, **{name: values[name] + step})
            down = dataclasses.replace(self.law, **{name: values[name] - step})
            columns.append((np.asarray(up.predict(*self.inputs)) - np.asarray(down.predict(*self.inputs))) / (2 * step))
        jacobian = np.column_stack(columns)
        covariance = self.sse / free * np.linalg.pinv(jacobian.T @ jacobian)
        return pd.DataFrame(covariance, index=list(names), columns=list(names))

    @property
    def bse(self) -> pd.Series:
        """The coefficients' standard errors (square roots of `cov_params`' diagonal)."""
        covariance = self.cov_params()
        return pd.Series(np.sqrt(np.clip(np.diag(covariance.to_numpy()), 0.0, None)), index=covariance.index)

    def conf_int(self, level: float = 0.9) -> pd.DataFrame:
        """Each fitted coefficient's central `level` interval, estimate -/+ t_(n-p) x standard error (`cov_params`):
        columns `estimate`, `low`, `high`."""
        if not 0 < level < 1:
            raise OvertrainError(f"level must lie between 0 and 1, not {level}")
        from scipy.stats import t as student_t  # scipy.stats takes 0.2 s to import: only when asked

        errors = self.bse
        estimates = pd.Series({name: float(dataclasses.asdict(self.law)[name]) for name in errors.index})
        t = float(student_t.ppf(0.5 + level / 2, self.n_points - len(errors)))
        return pd.DataFrame({"estimate": estimates, "low": estimates - t * errors, "high": estimates + t * errors})

    def summary_frame(self) -> pd.DataFrame:
        """The coefficients, one row each: estimate, and where the fit allows (`cov_params`) standard error and 90%
        interval."""
        try:
            table = self.conf_int(0.9)
            table.insert(1, "std_err", self.bse)
            return table
        except OvertrainError:
            return pd.DataFrame({"estimate": pd.Series(self.law.coefficients())})

    @property
    def held_out(self) -> str | None:
        """Why the law holds a term out (every fit run shares one size or one token count), or None."""
        if not (self.law.unidentified or self.law.held_terms):
            return None
        return identifiable_form(type(self.law).full or SharedExponentLoss, self.inputs)[1]

    def predict(self, *inputs: np.ndarray | float) -> np.ndarray | float:
        """The fitted law's prediction (loss laws take params, tokens; error laws take loss)."""
        return self.law.predict(*inputs)

    def summary(self) -> str:
        """A few lines a person can read: law, coefficients in both forms, fit set, residuals."""
        coefficients = "  ".join(f"{k}={v:.6g}" for k, v in self.law.coefficients().items())
        objective = "" if self.objective == "least-squares" else f", objective {self.objective}"
        if self.pooled:
            objective += f", exponents shared with {', '.join(f for f in self.pooled if f != self.family)}"
        lines = [
            f"{self.quantity} law '{self.law.name}': {self.law.formula}",
            f"  response {self.response} ({self.family}), fit set {self.fit_set!r}: {self.n_runs} runs"
            f"{self.checkpoint_note()}, {self.fit_flops:.3g} FLOPs{objective}",
            f"  coefficients: {coefficients}",
        ]
        if self.law.has_compute_form:
            form = "  ".join(f"{k}={'unknown' if v is None else format(v, '.6g')}"
                             for k, v in self.law.compute_form().items())
            lines.append(f"  compute form L(C, M) = E + (a·M^η + b·M^-η)·C^-η: {form}")
        lines.append(f"  residuals: rmse {self.rmse:.3g}, max |r| {np.max(np.abs(self.residuals)):.3g}")
        if self.held_out:
            lines.append(f"  note: {self.held_out}")
        if self.at_bound:
            lines.append(f"  warning: {', '.join(self.law.theta_names)} at the edge of the search range")
        return "\n".join(lines)

    def checkpoint_note(self) -> str:
        """' and N checkpoints of M of them' where the fit used checkpoints, else ''."""
        if not self.checkpoints:
            return ""
        return (f" and {len(self.checkpoints)} checkpoint{'s' * (len(self.checkpoints) != 1)} of"
                f" {len(set(self.checkpoint_of))} of them")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: law and coefficients, fit set, runs with residuals."""
        return {
            "kind": self.quantity.value,
            **self.law.to_dict(),
            "family": self.family,
            "response": self.response,
            "loss_split": self.loss_split,
            "task_set": None
            if self.task_set is None
            else {"name": self.task_set.name, "tasks": list(self.task_set.tasks)},
            "objective": self.objective,
            "pooled": list(self.pooled),
            "fit_set": self.fit_set,
            "runs": list(self.runs),
            "fit_flops": self.fit_flops,
            "largest_flops": self.largest_flops if np.isfinite(self.largest_flops) else None,
            "sse": self.sse,
            "rmse": self.rmse,
            "at_bound": self.at_bound,
            "checkpoints": len(self.checkpoints),
            "data": {
                "runs": list(self.runs),
                "checkpoints": list(self.checkpoints),
                "checkpoint_of": list(self.checkpoint_of),
                **{name: values.tolist() for name, values in zip(self.law.inputs, self.inputs, strict=True)},
                "observed": self.observed.tolist(),
                "noise": None if self.noise is None else self.noise.tolist(),
            },
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Fit:
        """Rebuild a Fit from `to_dict` output (e.g. a saved law file); predictions are identical."""
        try:
            law_type = law_class(document["law"], document["kind"])
            if document.get("unidentified"):  # a law holding a term out is named by its first unidentified term
                law_type = holding_out(law_type, document["unidentified"][0])
            law = law_type(**{f.name: _field_value(document[f.name]) for f in dataclasses.fields(law_type)
                               if f.name in document or f.default is dataclasses.MISSING})
            problem = coefficient_problem(law)
            if problem:
                raise OvertrainError(f"not a usable {document['kind']} law: {problem}")
            data = document["data"]
            inputs = tuple(np.array(data[name], dtype=float) for name in law_type.inputs)
            observed = np.array(data["observed"], dtype=float)
            task_set = document.get("task_set")
            for array in (*inputs, observed):
                array.flags.writeable = False
            return cls(
                quantity=Quantity(document["kind"]), law=law, family=str(document["family"]),
                fit_set=str(document["fit_set"]),
                runs=tuple(str(r) for r in data["runs"]), inputs=inputs, observed=observed,
                response=str(document["response"]), loss_split=str(document["loss_split"]),
                task_set=None if task_set is None else TaskSet(task_set["name"], tuple(task_set["tasks"])),
                fit_flops=float(document["fit_flops"]), at_bound=bool(document["at_bound"]),
                largest_flops=float(document.get("largest_flops") or float("nan")),
                objective=str(document.get("objective", "least-squares")),
                noise=None if data.get("noise") is None else np.array(data["noise"], dtype=float),
                pooled=tuple(str(f) for f in document.get("pooled", ())),
                checkpoints=tuple(str(c) for c in data.get("checkpoints", ())),
                checkpoint_of=tuple(str(c) for c in data.get("checkpoint_of", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise OvertrainError(f"not a saved {document.get('kind', '')} fit: bad or missing field {exc}") from None

    def __repr__(self) -> str:
        return f"Fit({self.quantity}, {self.law!r}, {self.n_runs} runs of {self.family!r})"

    @property
    def kind(self) -> Quantity:
        """Deprecated name of `quantity` (a law file still writes it as `kind`), kept for one release."""
        renamed("Fit.kind", "Fit.quantity")
        return self.quantity


@dataclass(frozen=True)
class ErrorResponses:
    """What an error law is fitted to at each point: the average error (`errors`), each task's error and loss
    (T, points), the tasks and their chance accuracies, the constant an offset law's error is measured from
    (`chance_offset`: the task set's error at chance) and the points whose measurements bound each task's forecast
    (`bounded_by`; None: every point)."""

    errors: np.ndarray | None = None
    task_errors: np.ndarray | None = None
    task_losses: np.ndarray | None = None
    chance: np.ndarray | None = None
    tasks: tuple[str, ...] = ()
    chance_offset: float = 0.0
    bounded_by: np.ndarray | None = None


def solve_error_laws(
    law: type, inputs: tuple[np.ndarray, ...], weights: np.ndarray | None, responses: ErrorResponses,
    objective: str = "least-squares",
) -> tuple[list[Law | None], np.ndarray]:
    """The error law `law` fitted to `responses` under each row of `weights` (B, points; None: one fit to every
    point), in one batched call: through each task's loss (`law.needs_task_loss`), task by task (`law.per_task`:
    each task kept within its chance and what the points `bounded_by` measured), or directly to the average error
    less its `offset`. The one place the per-law dispatch is written: `fit_error` and the backtests fit through it.
    Returns the laws (None where a fit failed) and whether an exponent sits at a search bound (B,; a per-task law's
    tasks at chance excepted)."""
    r = responses
    errors, task_errors, task_losses, chance, tasks = r.errors, r.task_errors, r.task_losses, r.chance, r.tasks
    chance_offset, bounded_by = r.chance_offset, r.bounded_by
    n_points = len(inputs[0])
    rows = np.ones((1, n_points)) if weights is None else np.atleast_2d(np.asarray(weights, dtype=float))
    n_fits = len(rows)
    if law.needs_task_loss:  # step 2 also learns from points past the runs (checkpoints): weigh every column
        rows = np.ones((1, task_losses.shape[1])) if weights is None else rows
        return solve_two_step(inputs[0], inputs[1], task_losses, task_errors, chance, tasks, rows)
    if law.per_task is not None:
        n_tasks = len(task_errors)
        y = task_errors if weights is None else np.repeat(task_errors[None], n_fits, 0).reshape(-1, n_points)
        theta, linear, bound = solve_law(law.per_task, inputs, y, objective,
                                         None if weights is None else np.repeat(rows, n_tasks, 0))
        theta, linear = theta.reshape(n_fits, n_tasks, -1), linear.reshape(n_fits, n_tasks, -1)
        bound = np.asarray(bound, dtype=bool).reshape(n_fits, n_tasks)
        columns = np.ones(n_points, dtype=bool) if bounded_by is None else bounded_by
        laws: list[Law | None] = []
        at_bound = np.zeros(n_fits, dtype=bool)
        for b in range(n_fits):
            if not np.all(np.isfinite(theta[b])):
                laws.append(None)
                continue
            ceiling, flat, flat_error = task_bounds(task_errors[:, columns & (rows[b] > 0)], chance)
            laws.append(law(tasks=tasks, eps=tuple(map(float, linear[b, :, 0])), k=tuple(map(float, linear[b, :, 1])),
                            gamma=tuple(map(float, theta[b, :, 0])), ceiling=tuple(map(float, ceiling)),
                            flat=tuple(map(float, flat)), flat_error=tuple(map(float, flat_error))))
            at_bound[b] = bool(np.any(bound[b][~flat]))
        return laws, at_bound
    theta, linear, bound = solve_law(law, inputs, np.asarray(errors, dtype=float) - chance_offset, objective,
                                     weights)
    theta, linear = theta.reshape(n_fits, -1), linear.reshape(n_fits, -1)
    constants = {law.offset: chance_offset} if law.offset else {}
    laws = [dataclasses.replace(law.from_solution(theta[b], linear[b]), **constants)
            if np.all(np.isfinite(theta[b])) else None for b in range(n_fits)]
    return laws, np.asarray(bound, dtype=bool).reshape(n_fits)


#: Exponents the fits search over positive values only: a law file with another has been edited into nonsense.
_POSITIVE = ("alpha", "beta", "gamma")


def coefficient_problem(law: Law) -> str | None:
    """What makes a law's coefficients impossible (not finite, or an exponent at or below 0), or None."""
    for name, value in dataclasses.asdict(law).items():
        values = value if isinstance(value, tuple) else (value,)
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if any(not np.isfinite(v) for v in numbers):
            return f"{name} = {value!r} is not a finite number"
        if name in _POSITIVE and any(v <= 0 for v in numbers):
            return f"{name} = {value!r}: the exponent must be positive"
    return None


def _field_value(value: Any) -> Any:
    """A law coefficient from JSON: a number, or a list (per-task laws) kept as a tuple."""
    if isinstance(value, list):
        return tuple(v if isinstance(v, str) else float(v) for v in value)
    return float(value)


def _fit_set_table(runs: RunTable, fit_set: str | FitSet | None, quantity: Quantity) -> tuple[RunTable, str]:
    chosen = runs if fit_set is None else runs.select(fit_set)
    name = "given runs" if fit_set is None else resolve_fit_set(fit_set).name
    if len(chosen) == 0:
        raise OvertrainError(f"{quantity} fit set {name!r} selects no runs from {runs.source}")
    if len(chosen.families) > 1:
        raise OvertrainError(
            f"{quantity} fit set {name!r} mixes families {', '.join(chosen.families)}; fit one family at a time"
        )
    return chosen, name


def _fit(
    quantity: Quantity, law: type, chosen: RunTable, inputs: tuple[np.ndarray, ...], observed: np.ndarray, name: str,
    response: str, loss_split: str, task_set: TaskSet | None, objective: str = "least-squares",
    task_errors: np.ndarray | None = None, noise: np.ndarray | None = None, checkpoints: RunTable | None = None,
) -> Fit:
    if quantity == Quantity.LOSS or law.name == "direct":  # a law of N and D: hold out the term the runs cannot see
        law, _ = identifiable_form(law, inputs)
    if len(chosen) < law.n_coefficients:
        raise OvertrainError(
            f"{quantity} fit set {name!r} has {len(chosen)} runs but the {law.name} law has {law.n_coefficients}"
            " coefficients; select more runs"
        )
    problem = law.design_problem(inputs)
    if problem is not None:
        raise OvertrainError(f"{quantity} fit set {name!r} cannot identify the {law.name} law: it {problem}")
    points = int(distinct_points(inputs, np.ones((1, len(inputs[0])), dtype=bool))[0])
    if points < law.n_coefficients:  # as the engine judges a fit (`distinct_points`), said with the reason
        raise OvertrainError(
            f"{quantity} fit set {name!r} cannot identify the {law.name} law: its {len(chosen)} runs sit at {points} "
            f"distinct points of ({', '.join(law.inputs)}) for "
            f"{law.n_coefficients} coefficients (replicates count once; any exponent would fit them equally well)")
    y = np.array(observed, dtype=float)
    if quantity == Quantity.LOSS:
        theta, linear, at_bound = solve_law(law, inputs, y, objective)
        fitted = law.from_solution(theta, linear) if np.all(np.isfinite(theta)) else None
    else:
        offset = chance_error(chosen, task_set) if law.offset == "chance_error" and task_set is not None else 0.0
        runs_only = np.arange(len(inputs[0])) < len(chosen)  # a task's bounds: what the runs measured
        found, bound = solve_error_laws(law, inputs, None, ErrorResponses(
            errors=y, task_errors=task_errors, chance_offset=offset, bounded_by=runs_only,
            chance=None if task_set is None else task_chance(chosen, task_set),
            tasks=() if task_set is None else task_set.tasks), objective)
        fitted, at_bound = found[0], bound[0]
    if fitted is None:
        raise OvertrainError(f"{quantity} fit set {name!r}: the {law.name} law could not be fitted (degenerate data)")
    for array in (*inputs, y):
        array.flags.writeable = False
    return Fit(
        quantity=quantity, law=fitted, family=chosen.families[0], fit_set=name, runs=tuple(chosen.runs), inputs=inputs,
        observed=y, response=response, loss_split=loss_split, task_set=task_set, fit_flops=chosen.total_flops,
        at_bound=bool(np.any(at_bound)), objective=objective, noise=noise, largest_flops=float(chosen.flops.max()),
        **checkpoint_fields(checkpoints),
    )


def fit_loss(
    runs: RunTable,
    split: str | None = None,
    *,
    fit_set: str | FitSet | None = None,
    law: str | type = "shared-exponent",
    objective: str = "least-squares",
) -> Fit:
    """Fit a loss law L(N, D) to the runs' loss on `split` (all given runs, or those `fit_set` selects). The
    split defaults as on the command line: the only one, else `default`, else `c4_val`.

    Parameters
    ----------
    runs : RunTable
        The runs, of one family.
    split : str, optional
        The loss split (`loss:<split>` column).
    fit_set : str or FitSet, optional
        Which runs to fit: a preset (`paper-loss`), a filter (`params<1e9`) or a `FitSet` (default: all).
    law : str or law class
        The loss law: `shared-exponent` (the paper's) or `chinchilla`.
    objective : str
        `least-squares` or `huber-log`.

    Returns
    -------
    Fit
        The fitted law, its runs and residuals (`summary()`, `summary_frame()`, `conf_int()`, `to_dict()`)."""
    law_type = law_class(law, "loss")
    split = split or runs.default_split()
    chosen, name = _fit_set_table(runs, fit_set, Quantity.LOSS)
    observed = chosen.loss_values(split)
    inputs = (chosen.params.copy(), chosen.tokens.copy())
    return _fit(Quantity.LOSS, law_type, chosen, inputs, observed, name, f"loss:{split}", split, None, objective,
                noise=chosen.loss_noise(split))


def fit_loss_pooled(
    runs: RunTable,
    split: str | None = None,
    *,
    fit_set: str | FitSet | None = None,
    law: str | type = "shared-exponent",
) -> dict[str, Fit]:
    """Fit a loss law to every family of `runs` at once (`laws.pooled.Pooled`): the exponents shared, E, A, B per
    family, by least squares over all the fit runs. Returns each family's fit (its own runs and coefficients, the
    shared exponents); a family whose fit runs cannot identify its own coefficients is an error."""
    law_type = law_class(law, "loss")
    split = split or runs.default_split()
    chosen = runs.complete(split) if fit_set is None else runs.complete(split).select(fit_set)
    name = f"runs with loss:{split}" if fit_set is None else resolve_fit_set(fit_set).name
    families = runs.families
    if len(chosen) == 0:
        raise OvertrainError(f"loss fit set {name!r} selects no runs from {runs.source}")
    group = np.array([families.index(f) for f in chosen.column("family")])
    inputs = (chosen.params.copy(), chosen.tokens.copy())
    for g, member in enumerate(families):
        if not group_identifies(law_type, inputs, group == g):
            raise OvertrainError(f"loss fit set {name!r} cannot give family {member!r} its own coefficients of "
                                 f"the {law_type.name} law in a pooled fit: it needs at least "
                                 f"{linear_count(law_type)} runs of 2+ sizes and 2+ "
                                 "multipliers")
    y = chosen.loss_values(split)
    theta, linear, at_bound = solve_pooled(law_type, inputs, group, y, np.ones(len(chosen)))
    if not np.all(np.isfinite(theta)):
        raise OvertrainError(f"loss fit set {name!r}: the pooled {law_type.name} law could not be fitted")
    noise = chosen.loss_noise(split)
    for array in (*inputs, y, group, noise):
        array.flags.writeable = False
    fits = {}
    for g, member in enumerate(families):
        rows = group == g
        member_inputs = tuple(v[rows] for v in inputs)
        observed = y[rows]
        for array in (*member_inputs, observed):
            array.flags.writeable = False
        fits[member] = Fit(
            quantity=Quantity.LOSS, law=law_type.from_solution(theta[0], linear[0, g]), family=member, fit_set=name,
            runs=tuple(np.asarray(chosen.runs)[rows]), inputs=member_inputs, observed=observed,
            response=f"loss:{split}", loss_split=split, task_set=None,
            fit_flops=float(chosen.flops[rows].sum()), at_bound=bool(at_bound[0]), noise=noise[rows],
            pooled=tuple(families), pooled_data=PooledData(inputs, y, group, noise, g),
            largest_flops=float(chosen.flops[rows].max()),
        )
    return fits


def checkpoint_fields(checkpoints: RunTable | None) -> dict[str, tuple[str, ...]]:
    """The `Fit` fields that name the checkpoints fitted beside the runs."""
    if checkpoints is None:
        return {}
    return {"checkpoints": tuple(checkpoints.runs), "checkpoint_of": tuple(map(str, checkpoints.column(CHECKPOINT_OF)))}


def usable_checkpoints(runs: RunTable, loss_split: str, task_set: TaskSet) -> RunTable | None:
    """The checkpoints of `runs` that carry the loss split and every task of the set, or None."""
    held = runs.checkpoints
    if held is None or LOSS + loss_split not in held.columns.columns:
        return None
    keep = np.isfinite(held.loss_values(loss_split))
    for task in task_set.tasks:
        keep &= np.isfinite(held.column(ACC + task)) if ACC + task in held.columns.columns else False
    return held.subset(keep) if keep.any() else None


def error_inputs(law: type, runs: RunTable, loss_split: str) -> tuple[np.ndarray, ...]:
    """The inputs an error law takes, read from the runs (measured loss, N, D, M)."""
    columns = {"params": runs.params, "tokens": runs.tokens, "multiplier": runs.multiplier}
    return tuple(
        (runs.loss_values(loss_split) if name == Quantity.LOSS else columns[name]).copy()
        for name in law.inputs
    )


def fit_error(
    runs: RunTable,
    loss_split: str | None = None,
    tasks: str | Sequence[str] | TaskSet | None = None,
    *,
    fit_set: str | FitSet | None = None,
    law: str | type = "exponential",
    objective: str = "least-squares",
    checkpoints: bool = True,
) -> Fit:
    """Fit an error law from measured loss on `loss_split` (default as in `fit_loss`; and N, D or M where the
    law uses them) to average top-1 error over `tasks` (default: every task the runs carry, as the command line).

    With `checkpoints`, a law of the loss alone (and the two-step law's second step, task loss to task error)
    also learns from the fit runs' intermediate checkpoints that carry the loss and the tasks
    (`RunTable.checkpoints`): more points along the same relation, at no extra compute.

    Parameters
    ----------
    runs : RunTable
        The runs, of one family.
    loss_split : str, optional
        The loss split the law reads.
    tasks : str, sequence of str or TaskSet, optional
        The task set whose top-1 errors are averaged (`17`, `46`, `all` or task names).
    fit_set : str or FitSet, optional
        Which runs to fit (a preset such as `paper-error`, a filter, or a `FitSet`).
    law : str or law class
        The error law (`exponential`, the paper's; `sigmoid`, `per-task`, `direct`, `two-step`, ...).
    objective : str
        `least-squares` or `huber-log`.
    checkpoints : bool
        Learn from the fit runs' checkpoints where the law allows.

    Returns
    -------
    Fit
        The fitted error law (`summary()`, `summary_frame()`, `to_dict()`)."""
    law_type = law_class(law, "error")
    loss_split = loss_split or runs.default_split()
    chosen, name = _fit_set_table(runs, fit_set, Quantity.ERROR)
    task_set = chosen.task_set("all" if tasks is None else tasks)
    observed = chosen.error_values(task_set)
    chosen.loss_values(loss_split)  # every error law needs the runs to carry the loss split
    inputs = error_inputs(law_type, chosen, loss_split)
    two_step = law_type.needs_task_loss
    extra = (usable_checkpoints(chosen, loss_split, task_set)
             if checkpoints and (two_step or law_type.inputs == ("loss",)) else None)
    if two_step:
        return _fit_two_step(chosen, name, inputs, observed, loss_split, task_set, extra)
    task_errors = 1.0 - chosen.accuracy_values(task_set).T
    noise = chosen.error_noise(task_set)
    if extra is not None:
        inputs = (np.concatenate([inputs[0], extra.loss_values(loss_split)]),)
        observed = np.concatenate([observed, extra.error_values(task_set)])
        noise = np.concatenate([noise, extra.error_noise(task_set)])
        task_errors = np.concatenate([task_errors, 1.0 - extra.accuracy_values(task_set).T], axis=1)
    return _fit(Quantity.ERROR, law_type, chosen, inputs, observed, name, f"error:{task_set.name}", loss_split,
                task_set, objective, task_errors, noise=noise, checkpoints=extra)


def _fit_two_step(chosen: RunTable, name: str, inputs: tuple[np.ndarray, ...], observed: np.ndarray, loss_split: str,
                  task_set: TaskSet, extra: RunTable | None = None) -> Fit:
    law_type = law_class("two-step", "error")
    if len(chosen) < law_type.n_coefficients:
        raise OvertrainError(f"error fit set {name!r} has {len(chosen)} runs but the two-step law needs at least "
                             f"{law_type.n_coefficients} per task; select more runs")
    problem = identifiable_form(SharedExponentLoss, inputs)[0].design_problem(inputs)
    if problem is not None:
        raise OvertrainError(f"error fit set {name!r} cannot identify the two-step law: it {problem}")
    losses = task_losses(chosen, task_set, name)
    errors = 1.0 - chosen.accuracy_values(task_set).T
    if extra is not None:
        extra_losses = np.array([extra.column(TASKLOSS + task) if TASKLOSS + task in extra.columns.columns
                                 else np.full(len(extra), np.nan) for task in task_set.tasks]).reshape(-1, len(extra))
        losses = np.concatenate([losses, extra_losses], axis=1)
        errors = np.concatenate([errors, 1.0 - extra.accuracy_values(task_set).T], axis=1)
        if not np.isfinite(extra_losses).any():
            extra = None
    laws, at_bound = solve_error_laws(law_type, inputs, None, ErrorResponses(
        task_errors=errors, task_losses=losses, chance=task_chance(chosen, task_set), tasks=task_set.tasks))
    if laws[0] is None:
        raise OvertrainError(f"error fit set {name!r}: the two-step law could not be fitted (degenerate data)")
    y = np.array(observed, dtype=float)
    for array in (*inputs, y):
        array.flags.writeable = False
    return Fit(quantity=Quantity.ERROR, law=laws[0], family=chosen.families[0], fit_set=name, runs=tuple(chosen.runs),
               inputs=inputs, observed=y, response=f"error:{task_set.name}", loss_split=loss_split,
               task_set=task_set, fit_flops=chosen.total_flops, at_bound=bool(at_bound[0]),
               noise=chosen.error_noise(task_set), largest_flops=float(chosen.flops.max()),
               **checkpoint_fields(extra))
