"""The losses: FaceNet's triplet loss (Eq. 2, through pytorch-metric-learning) and the two terms
that keep a fine-tuned network's distances where the calibrated thresholds expect them.

The triplet loss on unit embeddings:

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


class WeightedTerm:
    """A term added to the triplet loss with a weight (0: off), compared against the starting
    network's embeddings of the same faces. Subclasses give ``forward(embeddings, start)`` and
    the ``article`` naming them when a weight is refused."""

    article = "a term"

    def __init__(self, weight: float = 1.0) -> None:
        if weight < 0:
            raise ValueError(f"{self.article} weight must be >= 0")
        self.weight = weight

    def forward(self, embeddings: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, embeddings: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        return self.forward(embeddings, start)


class AnchorLoss(WeightedTerm):
    """Keeps each face's embedding near the one the starting network gave it:

        L = weight * mean_i ||f(x_i) - f_start(x_i)||^2

    Fine-tuning a pretrained network on a few hundred faces with the triplet loss alone moves
    every embedding; the calibrated thresholds (clustering, recognition) then mean something
    else. This term lets the network move only as far as the triplets need.

    Parameters:
        weight: the term's weight (0: the paper's loss alone; ``TrainConfig.anchor``).

    Called as ``loss(embeddings, start)``: (B, 128) embeddings of a batch and (B, 128) the
    starting network's embeddings of the same faces (same mirroring); returns a scalar tensor
    with a graph through ``embeddings``.
    """

    article = "an anchor"

    @staticmethod
    def drift(embeddings: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        """The unweighted term: mean squared distance of each embedding from its start."""
        return ((embeddings - start) ** 2).sum(dim=1).mean()

    def forward(self, embeddings: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        return self.weight * self.drift(embeddings, start)


class ScaleLoss(WeightedTerm):
    """Holds the batch's distance scale at the starting network's:

        L = weight * (s / s_start - 1)^2,   s = 1 - |mean_i f(x_i)|^2

    For unit embeddings the mean squared distance over all pairs of a batch is exactly
    ``2 s``, so this holds the *average* distance between faces where the pretrained network
    had it (the calibrated thresholds assume that scale) without tying any single face down,
    which :class:`AnchorLoss` does. In dlib's compact embedding space (thresholds about 7 times
    tighter than FaceNet's) the triplet loss otherwise spreads every face apart.

    Parameters:
        weight: the term's weight (0: off; ``TrainConfig.scale``).

    Called as ``loss(embeddings, start)`` like :class:`AnchorLoss`; returns a scalar tensor.
    """

    article = "a scale"

    @staticmethod
    def spread(embeddings: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        """``s / s_start``: the batch's mean squared distance relative to the start's (1: same)."""
        now = 1.0 - (embeddings.mean(dim=0) ** 2).sum()
        then = 1.0 - (start.mean(dim=0) ** 2).sum()
        return now / then

    def forward(self, embeddings: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        return self.weight * (self.spread(embeddings, start) - 1.0) ** 2
