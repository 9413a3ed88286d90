"""Rows scaled to unit length, and the chain rule back through that scaling
(the margin and triplet losses' normalised embeddings and class rows)."""
from __future__ import annotations

import numpy as np

# Norms below this are taken as this (torch.nn.functional.normalize's eps):
# a zero row gives finite, if large, gradients instead of NaN.
NORM_EPS = 1e-12


def row_norms(a: np.ndarray) -> np.ndarray:
    """Row norms, in a's dtype."""
    return np.sqrt(np.einsum("ij,ij->i", a, a))


def unit_rows(a: np.ndarray, norms: np.ndarray) -> np.ndarray:
    return a / np.maximum(norms, NORM_EPS)[:, None]


def through_normalisation(g: np.ndarray, unit: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """d/da of a function of unit = a / max(|a|, eps) whose gradient there is g,
    row by row (g is overwritten)."""
    radial = np.einsum("ij,ij->i", g, unit) * (norms >= NORM_EPS)
    g -= radial[:, None] * unit
    g /= np.maximum(norms, NORM_EPS)[:, None]
    return g
