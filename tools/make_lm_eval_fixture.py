"""Write tests/fixtures/lm_eval: lm-evaluation-harness output for a synthetic sweep with known laws.

Eight small models (four sizes at M = 20, three over-trained, one at M = 10) follow the loss law
L = 1.9 + 180 N^-0.28 + 300 D^-0.28 exactly; each task's accuracy is 1 - (eps_t - k_t exp(-gamma_t L)).
Half the files use harness v0.4 keys ("acc,none", n-samples, model_name), half the older bare keys. The
sizes table also lists a 2.8B target whose results file is present but which the tests forecast, not fit.

    python tools/make_lm_eval_fixture.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "lm_eval"
LOSS = {"E": 1.9, "A": 180.0, "B": 300.0, "alpha": 0.28}
TASKS = {  # eps, k, gamma, n_examples, has acc_norm
    "arc_easy": (0.75, 6.5, 1.23, 2376, True),
    "hellaswag": (0.75, 9.0, 1.30, 10042, True),
    "piqa": (0.50, 3.5, 1.00, 1838, True),
    "lambada_openai": (1.00, 20.0, 1.45, 5153, False),
    "winogrande": (0.50, 0.9, 0.80, 1267, False),
}
RUNS = [  # run id, params, multiplier, v0.4 format
    ("acme/tiny-20m", 2.0e7, 20, True),
    ("acme/small-60m", 6.0e7, 20, True),
    ("acme/base-150m", 1.5e8, 20, True),
    ("acme/large-400m", 4.0e8, 20, True),
    ("tiny-20m-m320", 2.0e7, 320, False),
    ("small-60m-m80", 6.0e7, 80, False),
    ("base-150m-m10", 1.5e8, 10, False),
    ("small-60m-m40", 6.0e7, 40, False),
    ("acme/xl-2800m-m80", 2.8e9, 80, True),
]


def loss_of(params: float, tokens: float) -> float:
    return LOSS["E"] + LOSS["A"] * params ** -LOSS["alpha"] + LOSS["B"] * tokens ** -LOSS["alpha"]


def main() -> None:
    sizes = ["run,family,params,tokens,loss:val"]
    for run, params, multiplier, modern in RUNS:
        tokens = params * multiplier
        loss = loss_of(params, tokens)
        sizes.append(f"{run},acme-web,{params:.6g},{tokens:.6g},{loss!r}")
        results: dict[str, dict[str, object]] = {}
        for task, (eps, k, gamma, n, has_norm) in TASKS.items():
            accuracy = 1.0 - (eps - k * np.exp(-gamma * loss))
            stderr = float(np.sqrt(accuracy * (1 - accuracy) / n))
            plain = accuracy - 0.03 if has_norm else accuracy
            if modern:
                entry: dict[str, object] = {"alias": task, "acc,none": plain, "acc_stderr,none": stderr}
                if has_norm:
                    entry |= {"acc_norm,none": accuracy, "acc_norm_stderr,none": "N/A"}
                if task == "lambada_openai":
                    entry |= {"perplexity,none": float(np.exp(loss)), "perplexity_stderr,none": 0.5}
            else:
                entry = {"acc": plain, "acc_stderr": stderr}
                if has_norm:
                    entry |= {"acc_norm": accuracy, "acc_norm_stderr": stderr}
            results[task] = entry
        if modern:
            results["wikitext"] = {"alias": "wikitext", "word_perplexity,none": 31.2, "bits_per_byte,none": 0.9}
            document: dict[str, object] = {
                "results": results,
                "configs": {t: {"task": t, "num_fewshot": 0} for t in TASKS},
                "n-shot": dict.fromkeys(TASKS, 0),
                "n-samples": {t: {"original": v[3], "effective": v[3]} for t, v in TASKS.items()},
                "config": {"model": "hf", "model_args": f"pretrained={run},dtype=bfloat16", "batch_size": "16"},
                "model_name": run,
                "model_name_sanitized": run.replace("/", "__"),
                "lm_eval_version": "0.4.5",
            }
            folder = OUT / run.replace("/", "__")
            name = "results_2026-01-01T00-00-00.000000.json"
        else:
            document = {
                "results": results,
                "versions": dict.fromkeys(TASKS, 0),
                "config": {"model": "hf-causal", "model_args": f"pretrained=/checkpoints/{run}", "num_fewshot": 0},
            }
            folder = OUT / run
            name = "results.json"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps(document, indent=2) + "\n")
    (OUT / "sizes.csv").write_text("\n".join(sizes) + "\n")


if __name__ == "__main__":
    main()
