"""Calibration: the platform's own reference submissions that set each challenge's pass marks."""
