"""The verdict: pass or fail, every rule with its figure, and a coarse band.

Pass iff all of: the fine-tuned final-split score reaches the challenge's threshold; the lower bound of
the 95% interval of (fine-tuned - few-shot) on the final split is above 0; general ability is kept,
decided as paired non-inferiority (the lower bound of the 95% paired-bootstrap interval of general-set
(after - before) stays above -margin: on an 80-item set one flipped item moves a raw ratio by more
than 1%, so a ratio alone would pass and fail by chance); the run stayed within the challenge's budgets.

Engineers see `public_verdict`: each rule's outcome, figures only where they do not come from the
final split (forgetting, budgets), and the band.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

THRESHOLD = "final_score"
BEATS_FEW_SHOT = "beats_few_shot"
FORGETTING = "forgetting"
BUDGET = "budget"
# Rules whose figures come from the final split: never shown to engineers.
FINAL_SPLIT_RULES = (THRESHOLD, BEATS_FEW_SHOT)


@dataclass(frozen=True)
class PassRules:
    threshold: float
    forgetting_margin: float
    band_strong: float
    band_exceptional: float


def band_for(score: float, rules: PassRules) -> str:
    if score >= rules.band_exceptional:
        return "exceptional"
    if score >= rules.band_strong:
        return "strong"
    return "pass"


def decide(
    *,
    final_score: float,
    delta_ci: tuple[float, float],
    forgetting_ratio: float,
    general_delta_ci: tuple[float, float],
    budget: dict[str, tuple[float, float]],
    rules: PassRules,
) -> dict[str, Any]:
    """`budget` maps each budgeted quantity to (used, limit); `forgetting_ratio` (after / before) is
    shown beside the interval that decides."""
    floor = -rules.forgetting_margin
    over = {name: used for name, (used, limit) in budget.items() if used > limit}
    checks = [
        {
            "rule": THRESHOLD,
            "description": "Fine-tuned score on the final split reaches the pass mark",
            "figure": round(final_score, 4),
            "required": f">= {rules.threshold}",
            "passed": final_score >= rules.threshold,
            "reason": "The fine-tuned model's final-split score is below the pass mark.",
        },
        {
            "rule": BEATS_FEW_SHOT,
            "description": "Beats few-shot prompting of the base model with 95% confidence (final split)",
            "figure": {"delta_ci": [round(delta_ci[0], 4), round(delta_ci[1], 4)]},
            "required": "lower bound > 0",
            "passed": delta_ci[0] > 0,
            "reason": "The fine-tuned model is not confidently better than few-shot prompting of the base model.",
        },
        {
            "rule": FORGETTING,
            "description": "Keeps general ability: 95% interval of the general-set change after tuning",
            "figure": {
                "general_change_ci": [round(general_delta_ci[0], 4), round(general_delta_ci[1], 4)],
                "kept_ratio": round(forgetting_ratio, 4),
            },
            "required": f"lower bound > {floor:g}",
            "passed": general_delta_ci[0] > floor,
            "reason": (
                "Tuning cost too much general ability: the general-set score changed by "
                f"{general_delta_ci[0]:+.2f} to {general_delta_ci[1]:+.2f} (95% interval), "
                f"and the lower end must stay above {floor:g}."
            ),
        },
        {
            "rule": BUDGET,
            "description": "Within the challenge's budgets",
            "figure": {name: {"used": used, "limit": limit} for name, (used, limit) in budget.items()},
            "required": "used <= limit for each",
            "passed": not over,
            "reason": "Over budget: " + ", ".join(f"{name} ({used})" for name, used in over.items()) + ".",
        },
    ]
    passed = all(check["passed"] for check in checks)
    for check in checks:
        if check["passed"]:
            check["reason"] = ""
    return {
        "passed": passed,
        "band": band_for(final_score, rules) if passed else None,
        "rules": checks,
        "reasons": [check["reason"] for check in checks if not check["passed"]],
    }


def public_verdict(verdict: dict[str, Any]) -> dict[str, Any]:
    """What the engineer sees: outcomes and reasons, no final-split figure."""
    rules = []
    for check in verdict.get("rules", []):
        shown = {key: check[key] for key in ("rule", "description", "required", "passed", "reason")}
        if check["rule"] not in FINAL_SPLIT_RULES:
            shown["figure"] = check["figure"]
        rules.append(shown)
    return {
        "passed": verdict.get("passed"),
        "band": verdict.get("band"),
        "rules": rules,
        "reasons": verdict.get("reasons", []),
    }
