"""The two extra loss terms of fine-tuning, each on a hand-made batch whose answer is known."""

from __future__ import annotations

import pytest
import torch

from facenet_core.training.loss import AnchorLoss, ScaleLoss


def test_the_anchor_term_is_the_weighted_mean_squared_drift() -> None:
    start = torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    moved = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], requires_grad=True)
    # squared drifts: 2, 0, (0.4^2 + 0.8^2) = 0.8; mean 2.8 / 3
    assert AnchorLoss.drift(moved, start).item() == pytest.approx(2.8 / 3)
    loss = AnchorLoss(weight=3.0)(moved, start)
    assert loss.item() == pytest.approx(2.8)
    loss.backward()  # d/dx of 3 * mean ||x - s||^2 = 2 * 3 * (x - s) / 3
    assert moved.grad is not None
    assert torch.allclose(moved.grad, 2.0 * (moved.detach() - start))


def test_the_anchor_term_is_zero_where_nothing_moved_or_the_weight_is_zero() -> None:
    start = torch.nn.functional.normalize(
        torch.randn(8, 128, generator=torch.Generator().manual_seed(1))
    )
    assert AnchorLoss(5.0)(start.clone(), start).item() == 0.0
    assert AnchorLoss(0.0)(torch.roll(start, 1, 0), start).item() == 0.0
    with pytest.raises(ValueError):
        AnchorLoss(-1.0)


def test_the_scale_term_compares_the_batchs_spread_with_the_starts() -> None:
    # the start's two orthogonal faces: mean (.5, .5), s = 1 - 0.5 = 0.5; now two faces 37 degrees
    # apart: mean (.8, .4), s = 1 - 0.8 = 0.2, so the batch's spread is 0.4 of the start's
    now = torch.tensor([[1.0, 0.0], [0.6, 0.8]], requires_grad=True)
    start = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert ScaleLoss.spread(now, start).item() == pytest.approx(0.4)
    loss = ScaleLoss(weight=2.0)(now, start)
    assert loss.item() == pytest.approx(2.0 * (0.4 - 1.0) ** 2)
    loss.backward()
    assert now.grad is not None and now.grad.abs().sum() > 0  # it pulls the batch mean towards 0
    assert ScaleLoss(7.0)(start, start).item() == 0.0  # the start's own spread: no loss


def test_the_spread_is_the_mean_squared_distance_of_the_batch() -> None:
    """Why the term is written with the mean embedding: for unit vectors the mean squared
    distance over all pairs of a batch is exactly 2 (1 - |mean|^2)."""
    g = torch.Generator().manual_seed(3)
    a = torch.nn.functional.normalize(torch.randn(16, 128, generator=g))
    b = torch.nn.functional.normalize(torch.randn(16, 128, generator=g) + 2.0)

    def mean_sq(x: torch.Tensor) -> torch.Tensor:
        return (torch.cdist(x, x) ** 2).mean()

    assert ScaleLoss.spread(a, b).item() == pytest.approx((mean_sq(a) / mean_sq(b)).item(), 1e-4)
