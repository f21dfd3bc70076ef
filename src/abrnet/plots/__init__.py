"""Figures: waterfalls of a series, evaluation plots (matplotlib, Agg backend; numpy in, files out)."""
