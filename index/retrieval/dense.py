"""A passage's dense score: its own cosine mixed with its best sentence's.

One formula for the searcher and the evaluation, so that the figures the
evaluation prints are the ranking users get. A passage's sentences are stored
as one contiguous run of rows, so "best sentence" is a maximum over runs.
"""

from __future__ import annotations

import numpy as np


def run_maxima(sims: np.ndarray, firsts: np.ndarray) -> np.ndarray:
    """The maximum of each run of columns (runs start at ``firsts``, in order)."""
    return np.maximum.reduceat(sims, firsts, axis=-1)


def mix(own: np.ndarray, best: np.ndarray, sentence_weight: float) -> np.ndarray:
    """``(1 - w) * own + w * best`` in float32, as every score of the index is computed."""
    weighted = (sentence_weight * best.astype(np.float64)).astype(np.float32)
    return (1.0 - sentence_weight) * own + weighted
