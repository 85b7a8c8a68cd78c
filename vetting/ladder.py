"""Score release on the feedback split with Blum & Hardt's Ladder (ICML 2015).

An engineer who sees an exact score after every submission can climb the feedback split by probing
(keep what went up by chance) without getting better. The Ladder shows a new score only when it beats
the best score already shown by more than a margin, rounded to the margin's precision; otherwise the
previous figure is shown again. Chance wiggles below the margin reveal nothing.
"""

from __future__ import annotations

import math
from decimal import Decimal


def margin_for(items: int, configured: float | None = None) -> float:
    """The configured margin, or about one standard error of a score on `items` items (p = 0.5),
    rounded up to a hundredth and at least 0.01."""
    if configured is not None:
        return configured
    return max(0.01, math.ceil(100 / (2 * math.sqrt(max(items, 1)))) / 100)


def _decimals(margin: float) -> int:
    return max(0, -Decimal(str(margin)).normalize().as_tuple().exponent)


def ladder_release(score: float, best_released: float | None, margin: float) -> tuple[float, bool]:
    """(the figure to show, whether it is newly released)."""
    if best_released is None or score > best_released + margin:
        return round(score, _decimals(margin)), True
    return best_released, False
