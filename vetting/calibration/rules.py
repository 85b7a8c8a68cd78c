"""Pass marks from reference runs: the pass mark sits between the careful runs and the mislabelled one,
the forgetting margin between the careful runs and the naive ones, each placed so that its distance to
either side, counted in that side's run-to-run spread (the same data retrained with other seeds), is the
same; the proposal is ok when every gap exceeds its side's spread. Pure: figures in, a proposal out.

The mislabelled reference runs once: its spread is taken as the larger of the careful and naive ones
(the same procedure on data of the same size). A kind with one run takes its spread from `assumed`
(the spreads measured on another challenge), or none."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from vetting import verdict
from vetting.models import Challenge

STEP = 0.01
KINDS = ("careful", "naive", "mislabelled")


def round_down(value: float, step: float = STEP) -> float:
    return round(math.floor(round(value / step, 6)) * step, 4)


def _spread(values: list[float]) -> float | None:
    return round(max(values) - min(values), 4) if len(values) > 1 else None


def between(high: float, low: float, high_spread: float, low_spread: float) -> float:
    """The point between low < high equally far from each in units of that side's spread (a spread
    under STEP counts as STEP, so that one measured side does not pull the point onto the other)."""
    high_spread, low_spread = max(high_spread, STEP), max(low_spread, STEP)
    return (high * low_spread + low * high_spread) / (high_spread + low_spread)


def by_kind(runs: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    kinds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs.values():
        kinds[run["kind"]].append(run)
    return kinds


def spreads(
    kinds: dict[str, list[dict[str, Any]]], assumed: dict[str, dict[str, float]] | None = None
) -> dict[str, dict[str, float]]:
    assumed = assumed or {}

    def measured(figure: str, kind: str, values: list[float]) -> float:
        spread = _spread(values)
        return spread if spread is not None else assumed.get(figure, {}).get(kind, 0.0)

    final = {kind: [run["scores"]["fine_tuned"] for run in kinds.get(kind, [])] for kind in KINDS}
    general = {kind: [run["scores"]["general_delta_ci"][0] for run in kinds.get(kind, [])] for kind in KINDS}
    careful_final = measured("final", "careful", final["careful"])
    naive_final = measured("final", "naive", final["naive"])
    return {
        "final": {
            "careful": careful_final,
            "naive": naive_final,
            "mislabelled": max(careful_final, naive_final),
        },
        "general_delta_low": {
            "careful": measured("general_delta_low", "careful", general["careful"]),
            "naive": measured("general_delta_low", "naive", general["naive"]),
        },
    }


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


def propose(
    challenge: Challenge,
    runs: dict[str, dict[str, Any]],
    assumed_spread: dict[str, dict[str, float]] | None = None,
) -> dict[str, Any]:
    """`runs` maps "<kind>-<seed>" to a run's figures; needs at least one careful, naive and
    mislabelled run. `ok` when, under the proposed rules, every careful run passes, every other run
    fails, and each gap exceeds the spread on its side."""
    kinds = by_kind(runs)
    missing = [kind for kind in ("careful", "naive", "mislabelled") if not kinds[kind]]
    if missing:
        raise ValueError(f"no {', '.join(missing)} run yet")
    spread = spreads(kinds, assumed_spread)
    careful_low = min(run["scores"]["fine_tuned"] for run in kinds["careful"])
    mislabelled_high = max(run["scores"]["fine_tuned"] for run in kinds["mislabelled"])
    threshold = max(
        STEP,
        round_down(
            between(careful_low, mislabelled_high, spread["final"]["careful"], spread["final"]["mislabelled"])
        ),
    )
    # Lower bounds of the general-set change: what the careful runs kept (at worst), the naive lost (at best).
    keeps = min(run["scores"]["general_delta_ci"][0] for run in kinds["careful"])
    forgets = max(run["scores"]["general_delta_ci"][0] for run in kinds["naive"])
    floor = between(
        keeps, forgets, spread["general_delta_low"]["careful"], spread["general_delta_low"]["naive"]
    )
    margin = round(min(1.0, max(STEP, -floor)), 3)
    gaps = {
        "final": {
            "careful": round(careful_low - threshold, 4),
            "mislabelled": round(threshold - mislabelled_high, 4),
        },
        "general_delta_low": {"careful": round(keeps + margin, 4), "naive": round(-margin - forgets, 4)},
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
    separated = {
        f"{figure}/{side}": gap > spread[figure][side]
        for figure in gaps
        for side, gap in gaps[figure].items()
    }
    return {
        "ok": expected and all(separated.values()),
        "proposed": proposed,
        "previous": {
            "pass_threshold": challenge.pass_threshold,
            "forgetting_margin": challenge.forgetting_margin,
            "band_strong": challenge.band_strong,
            "band_exceptional": challenge.band_exceptional,
        },
        "spread": spread,
        "spread_assumed": bool(assumed_spread),
        "gaps": gaps,
        "separated": separated,
        "judged": judged,
    }
