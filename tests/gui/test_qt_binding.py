"""The Qt binding must not corrupt Python's reference counts: PySide6 6.12.0 on Python 3.11
returned None from void methods without a reference, and a window that painted for a while died
with "deallocating None" (pyproject pins it out; this test catches such a binding)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QRect
from PySide6.QtGui import QImage, QPainter, QPixmap


def test_void_qt_methods_keep_nones_reference_count(qapp) -> None:
    image = QImage(8, 8, QImage.Format.Format_ARGB32_Premultiplied)
    pixmap = QPixmap(8, 8)
    painter = QPainter(image)
    calls = [
        lambda: image.setDevicePixelRatio(1.0),
        lambda: pixmap.setDevicePixelRatio(1.0),
        lambda: painter.setOpacity(1.0),
        lambda: painter.drawPixmap(QRect(0, 0, 4, 4), pixmap),
    ]
    before = sys.getrefcount(None)
    for _ in range(100):
        for call in calls:
            call()
    after = sys.getrefcount(None)
    painter.end()
    assert after >= before - 10, f"None lost {before - after} references to Qt calls"
