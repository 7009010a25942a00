"""The triplet loss of FaceNet Eq. 2 on unit embeddings, through pytorch-metric-learning.

    L = mean_i [ ||f(a_i) - f(p_i)||^2 - ||f(a_i) - f(n_i)||^2 + alpha ]_+ ,   alpha = 0.2

over the mined triplets (:mod:`.mining`). The paper writes a sum; the mean keeps the step size
independent of how many triplets a batch yields (it differs from the sum by that count only).
Distances are *squared* L2 (pytorch-metric-learning's ``LpDistance(power=2)``), on embeddings the
network has already L2-normalised, exactly the quantity Eq. 1-3 use.
"""

from __future__ import annotations

import torch
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.losses import TripletMarginLoss
from pytorch_metric_learning.reducers import MeanReducer

from facenet_core.training.mining import Mined

MARGIN = 0.2
"""FaceNet's alpha."""


def squared_distance() -> LpDistance:
    """Squared L2 distance of (already unit) embeddings."""
    return LpDistance(normalize_embeddings=False, p=2, power=2)


class TripletLoss:
    """Eq. 2 with margin ``margin`` over the given triplets (mean over triplets)."""

    def __init__(self, margin: float = MARGIN) -> None:
        self.margin = margin
        self.distance = squared_distance()
        self._loss = TripletMarginLoss(margin=margin, distance=self.distance, reducer=MeanReducer())

    def distances(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(B, B) squared distances, as the miner needs them (no gradient)."""
        with torch.no_grad():
            return self.distance(embeddings.detach())

    def __call__(self, embeddings: torch.Tensor, mined: Mined) -> torch.Tensor:
        if len(mined) == 0:
            return embeddings.sum() * 0.0  # a zero that still has a graph
        loss: torch.Tensor = self._loss(embeddings, indices_tuple=mined.as_tuple())
        return loss
