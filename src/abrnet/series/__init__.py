"""The per-ear series stage: a fitted part of the model that reads one ear's records together (threshold from the
p(V)-vs-level curve, class from the whole series, peak blending across levels). Saved in every checkpoint.
"""
