"""FaceNet Photos' own files: the app icon, the sidebar's icons and the stylesheet.

A folder beside ``app/`` and ``facenet_core/`` in the source tree. It is a (data-only) package so
that an install carries it: ``pip install`` puts it in ``site-packages/resources/`` with its
``*.svg`` and ``*.qss`` files (package data, see ``pyproject.toml``), again beside ``app/``.
:func:`app.resources.resources_dir` finds it in both places.
"""

from pathlib import Path

FOLDER = Path(__file__).resolve().parent
"""This folder, wherever it was installed."""
