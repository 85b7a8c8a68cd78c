"""Charts drawn on the server as inline SVG: the pages load no chart library and nothing from a CDN."""

from __future__ import annotations

from dataclasses import dataclass

BAR_WIDTH = 56
BAR_GAP = 28
PLOT_HEIGHT = 150
PAD_TOP = 26  # room for the value above the tallest bar
PAD_LEFT = 38  # room for the axis labels
PAD_BOTTOM = 44  # room for two lines of bar labels
TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class Bar:
    label: str
    sublabel: str
    value: float | None
    tone: str  # css class: base, prompt, tuned, before, after


def score_chart(bars: list[Bar]) -> dict:
    """Vertical bars on a fixed 0-1 scale (scores and ratios), with gridlines and value labels."""
    width = PAD_LEFT + len(bars) * (BAR_WIDTH + BAR_GAP) + BAR_GAP // 2
    height = PAD_TOP + PLOT_HEIGHT + PAD_BOTTOM
    baseline = PAD_TOP + PLOT_HEIGHT
    drawn = []
    for index, bar in enumerate(bars):
        x = PAD_LEFT + BAR_GAP // 2 + index * (BAR_WIDTH + BAR_GAP)
        value = None if bar.value is None else min(max(bar.value, 0.0), 1.0)
        bar_height = 0.0 if value is None else max(value * PLOT_HEIGHT, 1.0)
        drawn.append(
            {
                "label": bar.label,
                "sublabel": bar.sublabel,
                "tone": bar.tone,
                "value": bar.value,
                "x": x,
                "y": round(baseline - bar_height, 1),
                "width": BAR_WIDTH,
                "height": round(bar_height, 1),
                "center": x + BAR_WIDTH // 2,
                "value_y": round(baseline - bar_height - 7, 1),
            }
        )
    ticks = [{"value": tick, "y": round(baseline - tick * PLOT_HEIGHT, 1)} for tick in TICKS]
    return {
        "width": width,
        "height": height,
        "bars": drawn,
        "ticks": ticks,
        "left": PAD_LEFT,
        "right": width - 4,
        "baseline": baseline,
        "label_y": baseline + 18,
        "sublabel_y": baseline + 34,
        "description": "; ".join(
            f"{bar.label} {bar.sublabel}: {'n/a' if bar.value is None else f'{bar.value:.2f}'}"
            for bar in bars
        ),
    }


CURVE_WIDTH = 600
CURVE_HEIGHT = 180
CURVE_PAD = 10
CURVE_LEFT = 56  # room for the loss labels left of the curve
CURVE_AXIS = 22


def loss_curve(history: list[list[float]]) -> dict | None:
    """The training loss over steps as an SVG polyline; None until there are two points."""
    if len(history) < 2:
        return None
    steps = [point[0] for point in history]
    losses = [point[1] for point in history]
    first, last = min(steps), max(steps)
    low, high = min(losses), max(losses)
    step_span = (last - first) or 1
    loss_span = (high - low) or 1.0
    inner_w = CURVE_WIDTH - CURVE_LEFT - CURVE_PAD
    inner_h = CURVE_HEIGHT - CURVE_PAD - CURVE_AXIS
    points = " ".join(
        f"{CURVE_LEFT + (step - first) / step_span * inner_w:.1f},{CURVE_PAD + (high - loss) / loss_span * inner_h:.1f}"
        for step, loss in history
    )
    return {
        "points": points,
        "width": CURVE_WIDTH,
        "height": CURVE_HEIGHT,
        "first_step": first,
        "last_step": last,
        "low": low,
        "high": high,
        "axis_y": CURVE_HEIGHT - 6,
        "label_x": CURVE_LEFT - 8,
        "top_y": CURVE_PAD + 4,
        "bottom_y": CURVE_HEIGHT - CURVE_AXIS,
    }
