"""The Training page's live plot: the loss, and the held-out figures and active triplets in percent.

It gets every training step through a :class:`~app.jobs.TrainingFeed` and appends them to its
curves once per progress delivery.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QWidget

ACCENT, GREEN, ORANGE, GREY = "#3b6fd8", "#2e9d5b", "#d9822b", "#9aa3b0"


class Series:
    """One curve's points in growing arrays: appending is cheap, the curve is set once per
    batch of points (pyqtgraph then draws only what is in view, downsampled)."""

    def __init__(self, curve: pg.PlotDataItem) -> None:
        self.curve = curve
        self.x = np.empty(256)
        self.y = np.empty(256)
        self.n = 0

    def extend(self, xs: list[float], ys: list[float]) -> None:
        if not xs:
            return
        need = self.n + len(xs)
        if need > len(self.x):
            size = max(need, 2 * len(self.x))
            self.x = np.resize(self.x, size)
            self.y = np.resize(self.y, size)
        self.x[self.n : need] = xs
        self.y[self.n : need] = ys
        self.n = need

    def keep_until(self, step: float) -> None:
        """Drop the points after ``step`` (a run resumed from its checkpoint there)."""
        self.n = int(np.searchsorted(self.x[: self.n], step, side="right"))

    def show(self) -> None:
        self.curve.setData(self.x[: self.n].copy(), self.y[: self.n].copy())

    @property
    def points(self) -> int:
        return self.n


class LivePlot(QWidget):
    """The training's loss (left), and in percent (right): VAL and nearest-person accuracy on
    the held-out faces at each validation, and the share of active triplets at each step."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(12)
        self.loss_plot = self._plot("Loss")
        self.figures_plot = self._plot("Faces set aside, %")
        self.figures_plot.setYRange(-3, 105, padding=0)
        legend = self.figures_plot.addLegend(labelTextColor="#2c3440", verSpacing=-6)
        legend.anchor(itemPos=(1, 0.5), parentPos=(1, 0.5), offset=(-6, 0))
        legend.setBrush(pg.mkBrush(255, 255, 255, 225))
        self.loss = Series(self._curve(self.loss_plot, ACCENT, None, None))
        # nearest first, bigger: VAL's smaller dots stay visible where the two are equal
        self.nearest = Series(self._curve(self.figures_plot, ORANGE, "s", "Nearest person", 9))
        self.val = Series(self._curve(self.figures_plot, GREEN, "o", "VAL", 6))
        self.active = Series(self._curve(self.figures_plot, GREY, None, "Active triplets"))
        self.loss_plot.setToolTip(
            "The triplet loss of each training step: it falls as the model learns to pull each "
            "person's faces together and push other people's apart"
        )
        self.figures_plot.setToolTip(
            "VAL: same-person pairs recognised (at most 1 in 1,000 strangers confused); "
            "Nearest person: faces set aside whose closest training face is the right person "
            "(both measured before training and after each pass); Active triplets: the share "
            "of same-person pairs in a step that still had something to learn"
        )
        layout.addWidget(self.loss_plot, 1)
        layout.addWidget(self.figures_plot, 1)
        self.hints = []
        for plot, y in ((self.loss_plot, 0.5), (self.figures_plot, 85.0)):
            hint = pg.TextItem("filled in as training runs", color=GREY, anchor=(0.5, 0.5))
            hint.setPos(0.5, y)
            plot.addItem(hint)
            self.hints.append(hint)

    @staticmethod
    def _plot(title: str) -> pg.PlotWidget:
        plot = pg.PlotWidget(background="#ffffff")
        plot.setTitle(title, color="#2c3440", size="10pt")
        plot.setLabel("bottom", "step")
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.setMenuEnabled(False)
        plot.setMinimumHeight(200)
        for axis in ("left", "bottom"):
            plot.getAxis(axis).setTextPen("#4a5361")
            plot.getAxis(axis).setPen("#c5ccd6")
        return plot

    @staticmethod
    def _curve(
        plot: pg.PlotWidget, colour: str, symbol: str | None, name: str | None, size: int = 7
    ) -> pg.PlotDataItem:
        curve = plot.plot(
            pen=pg.mkPen(colour, width=2 if symbol else 1.5),
            symbol=symbol,
            symbolSize=size,
            symbolBrush=colour,
            symbolPen=None,
            name=name,
        )
        curve.setClipToView(True)
        curve.setDownsampling(auto=True, method="peak")
        return curve

    @property
    def series(self) -> tuple[Series, ...]:
        return (self.loss, self.val, self.nearest, self.active)

    def clear(self) -> None:
        for s in self.series:
            s.n = 0
            s.show()

    def keep_until(self, step: float) -> None:
        for s in self.series:
            s.keep_until(step)

    def add(self, points: Iterable[Mapping[str, float]]) -> None:
        """Append training steps' counters (``step``, ``loss``, ``active``, and on validation
        steps ``val`` and ``nearest``) and redraw each curve once."""
        points = list(points)
        steps = [p for p in points if "loss" in p]
        checks = [p for p in points if "val" in p]
        xs = [p["step"] for p in steps]
        vx = [p["step"] for p in checks]
        self.loss.extend(xs, [p["loss"] for p in steps])
        self.active.extend(xs, [100 * p.get("active", math.nan) for p in steps])
        self.val.extend(vx, [100 * p["val"] for p in checks])
        self.nearest.extend(vx, [100 * p.get("nearest", math.nan) for p in checks])
        if xs or vx:
            for hint in self.hints:
                hint.hide()
            for s in self.series:
                s.show()
