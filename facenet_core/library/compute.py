"""Where a long job computes: on this computer, or on the Ray cluster of the "Compute on"
setting (:mod:`facenet_core.vision.ray_source`). The job stays this process's: it holds the
library's writer lock and writes every row; only the per-photo work goes to the cluster."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from facenet_core.settings import Settings

if TYPE_CHECKING:
    from facenet_core.vision.ray_source import Cluster


def compute_on(settings: Settings) -> contextlib.AbstractContextManager[Cluster | None]:
    """The Ray cluster of ``settings.cluster``, connected and checked (a one-line error before
    any work), or None: this computer. Ray is imported only when a cluster is asked for."""
    if settings.cluster == "here":
        return contextlib.nullcontext()
    from facenet_core.vision.ray_source import connect

    return connect(settings.cluster)
