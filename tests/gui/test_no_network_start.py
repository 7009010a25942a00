"""The app starts, opens a library, loads its face models and shows its pages with every
outgoing connection refused: nothing it does on start-up reaches for the network."""

from __future__ import annotations

from app.main import warm_up
from app.main_window import MainWindow
from facenet_core.settings import Settings
from facenet_core.store import Library


def test_the_app_starts_and_loads_its_models_with_the_network_refused(
    qtbot, tmp_path, no_network: list[str]
) -> None:
    library = Library.open(tmp_path / "library.db", create=True)
    window = MainWindow(library, restore_state=False)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    warm_up(Settings(device="cpu"))  # the face models the first scan needs, loaded as on start-up
    for title in ("People", "Photos", "Training", "Settings", "Library"):
        window.show_view(title)
        qtbot.wait(50)
    window.close()
    assert no_network == []
