"""Online triplet selection inside a mini-batch (FaceNet section 3.2).

The paper's rules, applied to one mini-batch of unit embeddings with squared L2 distances d:

- **every anchor-positive pair**: every ordered pair (a, p), a != p, of faces of one person
  ("all anchor-positive pairs in a mini-batch"; a pair gives two, one per anchor);
- for each, a **semi-hard negative** (Eq. 3): a face n of another person with
  d(a, p) < d(a, n) < d(a, p) + alpha. The paper does not say which one when several qualify;
  we take the hardest of them (smallest d(a, n)), as the FaceNet authors' own TensorFlow loss
  (``triplet_semihard_loss``) does. Ties go to the lower batch index.

When a pair has **no semi-hard negative**, either every negative is already beyond the margin
(the triplet would have zero loss: nothing to learn) or the violating ones are *hard*
(d(a, n) <= d(a, p)). What to do then is the ``fallback``:

- ``"skip"``: no triplet for that pair (the paper's rule read strictly);
- ``"hard"``: the hard negative nearest the positive's distance (the largest d(a, n) <= d(a, p),
  the mildest violation; what ``triplet_semihard_loss`` falls back to);
- ``"hardest"``: the nearest negative (smallest d(a, n)), the choice the paper warns can
  collapse a model early in training.

Labels: faces of one person share a label; a negative label (< 0) marks a face that may only
serve as a negative (a person with too few faces to form pairs).

pytorch-metric-learning's ``TripletMarginMiner(type_of_triplets="semihard")`` returns *every*
semi-hard negative of every pair (B^3 candidates) with a non-strict upper bound, not one per pair,
so the selection is done here (vectorised, in chunks); the loss is pytorch-metric-learning's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

Fallback = Literal["skip", "hard", "hardest"]
FALLBACKS: tuple[str, ...] = ("skip", "hard", "hardest")
CHUNK = 4096
"""Anchor-positive pairs examined at once (memory: CHUNK x batch size)."""


@dataclass(frozen=True)
class Mined:
    """The triplets chosen in one mini-batch and what the batch looked like.

    ``anchor``, ``positive``, ``negative``: batch indices of each triplet; ``semihard``: whether
    each triplet's negative is semi-hard (else it came from the fallback). ``pairs``: anchor-
    positive pairs in the batch; ``mean_ap`` / ``mean_an``: mean squared distance over every
    anchor-positive pair and over every anchor-negative pair of the batch."""

    anchor: torch.Tensor
    positive: torch.Tensor
    negative: torch.Tensor
    semihard: torch.Tensor
    pairs: int
    mean_ap: float
    mean_an: float

    def __len__(self) -> int:
        return int(self.anchor.numel())

    @property
    def semihard_fraction(self) -> float:
        """Share of anchor-positive pairs that have a semi-hard negative."""
        return int(self.semihard.sum()) / self.pairs if self.pairs else 0.0

    @property
    def active_fraction(self) -> float:
        """Share of anchor-positive pairs that yielded a triplet (every chosen triplet violates
        Eq. 1, so each has a positive loss)."""
        return len(self) / self.pairs if self.pairs else 0.0

    def as_tuple(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.anchor, self.positive, self.negative


def mine_triplets(
    dist: torch.Tensor, labels: torch.Tensor, margin: float = 0.2, fallback: Fallback = "skip"
) -> Mined:
    """Triplets of one mini-batch by the rules above.

    ``dist``: (B, B) squared distances of the batch's embeddings (no gradient needed);
    ``labels``: (B,) person labels (negative: negative-only faces)."""
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback must be one of {', '.join(FALLBACKS)}, not {fallback!r}")
    dist = dist.detach()
    labels = labels.to(dist.device)
    n = len(labels)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(n, dtype=torch.bool, device=dist.device)
    positive_mask = same & ~eye & (labels >= 0)[:, None]
    negative_mask = ~same
    anchors, positives = positive_mask.nonzero(as_tuple=True)  # row-major: a, then p
    ap_all = dist[anchors, positives]
    an_count = int((negative_mask & (labels >= 0)[:, None]).sum())
    mean_an = (
        float(dist[negative_mask & (labels >= 0)[:, None]].mean()) if an_count else float("nan")
    )
    out_n: list[torch.Tensor] = []
    out_semi: list[torch.Tensor] = []
    out_keep: list[torch.Tensor] = []
    inf = torch.tensor(float("inf"), dtype=dist.dtype, device=dist.device)
    for start in range(0, len(anchors), CHUNK):
        a = anchors[start : start + CHUNK]
        d_ap = ap_all[start : start + CHUNK, None]
        d_an = dist[a]
        valid = negative_mask[a]
        semi = valid & (d_an > d_ap) & (d_an < d_ap + margin)
        has_semi = semi.any(dim=1)
        chosen = torch.where(semi, d_an, inf).argmin(dim=1)
        keep = has_semi
        if fallback != "skip":
            hard = valid & (d_an <= d_ap)
            has_hard = hard.any(dim=1) & ~has_semi
            if fallback == "hard":
                pick = torch.where(hard, d_an, -inf).argmax(dim=1)
            else:
                pick = torch.where(valid, d_an, inf).argmin(dim=1)
            chosen = torch.where(has_semi, chosen, pick)
            keep = has_semi | has_hard
        out_n.append(chosen)
        out_semi.append(has_semi)
        out_keep.append(keep)
    if out_n:
        negatives = torch.cat(out_n)
        semihard = torch.cat(out_semi)
        keep = torch.cat(out_keep)
    else:
        empty = torch.zeros(0, dtype=torch.long, device=dist.device)
        negatives, semihard, keep = empty, empty.bool(), empty.bool()
    return Mined(
        anchor=anchors[keep],
        positive=positives[keep],
        negative=negatives[keep],
        semihard=semihard[keep],
        pairs=len(anchors),
        mean_ap=float(ap_all.mean()) if len(anchors) else float("nan"),
        mean_an=mean_an,
    )
