"""FaceNet Photos core: detection, alignment, embedding, storage and people logic.

This package never imports Qt; the GUI in ``app/`` calls into it.
"""

__version__ = "0.1.0"
