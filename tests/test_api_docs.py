"""The public functions document their parameters and returns; plans, comparisons and the reproduction read as text."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import overtrain as ot

EXAMPLES = Path(__file__).parents[1] / "examples"

#: Every public function of `import overtrain as ot`.
DOCUMENTED = tuple(name for name in ot.__all__ if inspect.isfunction(getattr(ot, name)))


def _section(doc: str, title: str) -> str:
    """The body of a numpydoc section: from its underlined title to the next blank line before a section."""
    match = re.search(rf"^{title}\n-{{{len(title)}}}\n(.*?)(?=\n\n\S+\n-+\n|\Z)", doc, flags=re.M | re.S)
    return match.group(1) if match else ""


def test_every_public_function_is_checked() -> None:
    assert len(DOCUMENTED) >= 25 and {"predict", "point_forecast", "read_runs", "plan", "design"} <= set(DOCUMENTED)


@pytest.mark.parametrize("name", DOCUMENTED)
def test_the_public_functions_document_every_parameter_and_what_they_return(name: str) -> None:
    function = getattr(ot, name)
    doc = inspect.getdoc(function)
    parameters = list(inspect.signature(function).parameters)
    assert "Returns\n-------" in doc and _section(doc, "Returns").strip(), name
    # a function without parameters has no (empty) Parameters section, as numpydoc has it
    assert ("Parameters\n----------" in doc) == bool(parameters), name
    entries = [line for line in _section(doc, "Parameters").splitlines() if line and not line.startswith(" ")]
    named = [part.strip() for line in entries for part in line.split(" : ")[0].split(",")]
    assert named == parameters, (name, named, parameters)
    assert all(" : " in line for line in entries), (name, entries)


@pytest.fixture(scope="module")
def rpj_laws(testbed: ot.RunTable) -> ot.FittedLaws:
    runs = testbed.family("rpj")
    return ot.FittedLaws(ot.fit_loss(runs, fit_set="paper-loss"),
                         ot.fit_error(runs, "c4_val", "17", fit_set="paper-error"))


def test_a_plan_reads_as_text(rpj_laws: ot.FittedLaws) -> None:
    """A plan's text gives the numbers of `to_dict()`, formatted as the terminal does; its frame is one row of them."""
    plan = ot.plan(rpj_laws, target_loss=2.6, inference_tokens=1e12)
    text = plan.summary()
    document = plan.to_dict()
    assert isinstance(text, str)
    assert text.splitlines()[0] == "plan (rpj): least total compute reaching loss 2.6000"
    assert f"N = {document['params']:.4g} (shape {document['shape']})" in text
    assert (f"training {document['training_flops']:.3g} + inference {document['inference_flops']:.3g} "
            f"(1e+12 tokens served) = total {document['total_flops']:.3g} FLOPs") in text
    assert f"error (17 tasks) {document['forecast']['error']:.4f}" in text
    by_error = ot.plan(rpj_laws, target_error=0.5).summary()
    assert by_error.startswith("plan (rpj): least total compute reaching error 0.5000 (loss ")
    (row,) = plan.summary_frame().to_dict(orient="records")
    assert {k: row[k] for k in ("params", "tokens", "total_flops", "shape")} == {
        k: document[k] for k in ("params", "tokens", "total_flops", "shape")}
    assert row["loss"] == document["forecast"]["loss"] and row["error_17"] == document["forecast"]["error"]


def test_a_design_reads_as_text_and_as_a_frame() -> None:
    design = ot.design(6.9e9, 1.38e11, 1e20)
    text, frame, document = design.summary(), design.summary_frame(), design.to_dict()
    first = f"design for N = 6.90B, D = 138.00B: {len(design.runs)} runs, 1e+20 FLOPs (57x short of the target)"
    assert text.splitlines()[0] == first
    assert text.splitlines()[-1] == f"  {document['expectation']}"
    assert frame.to_dict(orient="records") == [{k: r[k] for k in ("params", "multiplier", "tokens", "flops", "shape")}
                                               for r in document["runs"]]


def test_a_comparison_reads_as_text() -> None:
    runs = ot.read_runs(EXAMPLES / "sweep.csv")
    comparison = ot.compare_families(runs, ot.Target(1.4e9, 2.8e10))
    text = comparison.summary()
    frame = comparison.summary_frame().sort_values("loss_rank")
    assert text.startswith("comparison of 2 families at N = 1.4e+09, D = 2.8e+10 (M = 20)\n")
    lines = text.splitlines()
    for row in frame.to_dict(orient="records"):
        shown = f"{row['loss']:.4f}  [{row['loss_low']:.4f}, {row['loss_high']:.4f}]"
        assert any(line.strip().startswith(f"{int(row['loss_rank'])}. {row['family']} ") and line.endswith(shown)
                   for line in lines), (row, text)
    best, second = frame["family"].iloc[:2]
    assert f"P({best} better than {second}) = {comparison.probability(best, second, 'loss'):.1%}" in text


def test_the_reproduction_reads_as_text() -> None:
    reproduction = ot.reproduce()
    text = reproduction.summary()
    frame = reproduction.summary_frame()
    assert text.startswith("reproduction on c4_val: 9 forecasts of 3 families, fit sets 'paper-loss' (loss) and "
                           "'paper-error' (error)\n")
    held_out = frame[~frame["in_error_fit_set"]]
    # the README's headline: the mean |relative error| of the six held-out targets' loss forecasts
    assert f"{held_out['loss_rel_err'].mean():.2%}" == "1.48%"
    assert ("mean |relative error| over the 6 held out: loss 1.48%, error (17 tasks) 3.66%, error (46 tasks) 2.62%"
            in text)
    for row in frame.to_dict(orient="records"):
        line = next(line for line in text.splitlines()[3:] if line.split()[0].rstrip("*") == row["run"])
        assert line.split()[0] == row["run"] + ("*" if row["in_error_fit_set"] else "")
        assert f"loss {row['loss_pred']:.4f} vs {row['loss_true']:.4f} ({row['loss_rel_err']:.2%})" in line
        assert f"err46 {row['err46_pred']:.4f} vs {row['err46_true']:.4f} ({row['err46_rel_err']:.2%})" in line
