"""Rows grouped by a key (ear, patient), written once: one stable sort instead of a ``keys == k`` scan per group.

Why: a mask per group is O(records × groups), minutes for a 50k-record series; a stable argsort is O(N log N)
and keeps each group's rows in file order.
"""

from __future__ import annotations

import numpy as np


def group_indices(keys: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """(distinct keys, sorted; each key's row indices, ascending) for a (N,) key array."""
    keys = np.asarray(keys)
    if keys.size == 0:
        return keys[:0], []
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    return sorted_keys[starts], np.split(order, starts[1:])
