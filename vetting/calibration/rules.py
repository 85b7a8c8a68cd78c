"""Pass marks from reference runs: the pass mark sits between the careful runs and the mislabelled one,
the forgetting margin between the careful runs and the naive ones, each with a gap larger than the
run-to-run spread (the same data retrained with other seeds). Pure: figures in, a proposal out."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from vetting import verdict
from vetting.models import Challenge

STEP = 0.01


def round_down(value: float, step: float = STEP) -> float:
    return round(math.floor(round(value / step, 6)) * step, 4)


def _spread(values: list[float]) -> float:
    return round(max(values) - min(values), 4) if len(values) > 1 else 0.0


def _judge(run: dict[str, Any], rules: verdict.PassRules) -> dict[str, Any]:
    scores = run["scores"]
    return verdict.decide(
        final_score=scores["fine_tuned"],
        delta_ci=tuple(scores["delta_vs_few_shot_ci"]),
        forgetting_ratio=scores["forgetting_ratio"],
        general_delta_ci=tuple(scores["general_delta_ci"]),
        budget={key: (value["used"], value["limit"]) for key, value in run["budget"].items()},
        rules=rules,
    )


def propose(challenge: Challenge, runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`runs` maps "<kind>-<seed>" to a run's figures; needs at least one careful, naive and
    mislabelled run. `ok` when, under the proposed rules, every careful run passes, every other run
    fails, and both gaps exceed the spread between seeds."""
    kinds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs.values():
        kinds[run["kind"]].append(run)
    missing = [kind for kind in ("careful", "naive", "mislabelled") if not kinds[kind]]
    if missing:
        raise ValueError(f"no {', '.join(missing)} run yet")
    final = {kind: [run["scores"]["fine_tuned"] for run in kinds[kind]] for kind in kinds}
    general_low = {kind: [run["scores"]["general_delta_ci"][0] for run in kinds[kind]] for kind in kinds}
    spread = {
        "final": max(_spread(final["careful"]), _spread(final["naive"])),
        "general_delta_low": max(_spread(general_low["careful"]), _spread(general_low["naive"])),
    }

    careful_low, mislabelled_high = min(final["careful"]), max(final["mislabelled"])
    threshold = max(STEP, round_down((careful_low + mislabelled_high) / 2))
    keeps, forgets = min(general_low["careful"]), max(general_low["naive"])
    # -margin halfway between what the naive runs lost and the careful runs kept (lower bounds).
    margin = round(min(1.0, max(STEP, -(keeps + forgets) / 2)), 3)
    gaps = {
        "final": round(min(careful_low - threshold, threshold - mislabelled_high), 4),
        "general_delta_low": round(min(keeps + margin, -margin - forgets), 4),
    }
    proposed = {
        "pass_threshold": threshold,
        "forgetting_margin": margin,
        "band_strong": max(challenge.band_strong, threshold),
        "band_exceptional": max(challenge.band_exceptional, challenge.band_strong, threshold),
    }
    rules = verdict.PassRules(
        threshold=threshold,
        forgetting_margin=margin,
        band_strong=proposed["band_strong"],
        band_exceptional=proposed["band_exceptional"],
    )
    judged = {}
    for name, run in runs.items():
        decision = _judge(run, rules)
        judged[name] = {"passed": decision["passed"], "reasons": decision["reasons"]}
    expected = all(judged[name]["passed"] == (run["kind"] == "careful") for name, run in runs.items())
    separated = all(gaps[key] > spread[key] for key in gaps)
    return {
        "ok": expected and separated,
        "proposed": proposed,
        "previous": {
            "pass_threshold": challenge.pass_threshold,
            "forgetting_margin": challenge.forgetting_margin,
            "band_strong": challenge.band_strong,
            "band_exceptional": challenge.band_exceptional,
        },
        "spread": spread,
        "gaps": gaps,
        "judged": judged,
    }
