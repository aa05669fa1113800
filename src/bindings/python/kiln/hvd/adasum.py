"""Adasum: the adaptive sum of the ranks' tensors that op=Adasum asks for.

Two vectors a and b combine as

    adasum(a, b) = (1 - a.b / (2 |a|^2)) a + (1 - a.b / (2 |b|^2)) b

so parallel vectors average, orthogonal ones add, and anything between gets between. Ranks
combine pairwise in a binary tree over rank order: (0, 1), (2, 3), ... then those results
in pairs, and so on; with a size that is not a power of two, the last one of an odd level
passes up unchanged. Every rank gathers every rank's tensor and computes the same tree, so
the result is the same everywhere. Dot products and norms are taken in float64.
"""

import torch


def _pair(a, b):
    a64, b64 = a.double().flatten(), b.double().flatten()
    dot = torch.dot(a64, b64)
    norm_a, norm_b = torch.dot(a64, a64), torch.dot(b64, b64)
    # A zero vector adds nothing; its coefficient is immaterial, and 1 avoids 0/0.
    scale_a = 1.0 - dot / (2.0 * norm_a) if norm_a > 0 else 1.0
    scale_b = 1.0 - dot / (2.0 * norm_b) if norm_b > 0 else 1.0
    return (scale_a * a64 + scale_b * b64).reshape(a.shape)


def combine(tensors):
    """The Adasum of `tensors` (one per rank, in rank order, equal shapes), in their dtype."""
    if not tensors:
        raise ValueError("kiln.hvd: Adasum of no tensors")
    dtype = tensors[0].dtype
    if not dtype.is_floating_point:
        raise ValueError(f"kiln.hvd: op=Adasum takes floating-point tensors, not {dtype}")
    level = [t.double() for t in tensors]
    while len(level) > 1:
        level = [_pair(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    return level[0].to(dtype)
