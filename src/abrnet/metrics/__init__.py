"""Scores: task metrics and their kernels, calibration, and the clinical read-outs of a series (numpy only)."""
