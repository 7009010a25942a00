"""The Library page's account of face tags: what the last scan or ``import-tags`` read from the
names other programs wrote into photos ("212 names read from 180 photos", faces matched and made,
people created, disagreements between formats), and the photos whose metadata could not be read,
with the reason, in a list that opens on demand. The figures are the core's
(:func:`facenet_core.library.tag_queries.last_import`); this module only words them."""

from __future__ import annotations

from datetime import UTC

from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QWidget,
)

from app.models import Column, TableModel
from app.widgets import button, card_layout, file_table, label, plural
from facenet_core.library.tag_queries import LastImport

UNREADABLE_COLUMNS: list[Column[tuple[str, str]]] = [
    Column("Photo", lambda u: u[0], tooltip=lambda u: u[0]),
    Column("Why its metadata could not be read", lambda u: u[1], tooltip=lambda u: u[1]),
]


def tag_headline(s: LastImport) -> str:
    """``212 names read from 180 photos``, or what was looked at when no photo had tags."""
    if not s.photos_with_tags:
        return f"No face tags found in {plural(s.photos_read, 'photo')}"
    return (
        f"{plural(s.names_found, 'name')} read from {plural(s.photos_with_tags, 'photo')}"
        f" (of {s.photos_read:,} read)"
    )


def tag_details(s: LastImport) -> str:
    """The rest of the figures, in a user's words."""
    if not s.photos_with_tags:
        return ""
    parts = [
        f"{plural(s.faces_named, 'face')} named",
        f"{plural(s.faces_matched, 'region')} matched to faces found here",
        plural(s.people_created, "new person", "new people"),
    ]
    shown_when_any = [
        (s.faces_created, "face", "made from regions no detector found"),
        (s.faces_kept, "face", "left as you decided them"),
        (s.names_unplaced, "name", "not placed on a face"),
        (s.regions_without_face, "region", "without a face"),
        (s.disagreements, "disagreement", "between formats (MWG kept over IPTC and MP)"),
    ]
    parts += [f"{plural(n, word)} {what}" for n, word, what in shown_when_any if n]
    return " · ".join(parts)


def when(s: LastImport) -> str:
    at = s.finished_at
    if at is None:
        return ""
    at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return at.astimezone().strftime("%d %b %Y, %H:%M")


class TagPanel(QFrame):
    """A card: the headline, the details, and the photos whose metadata could not be read."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = card_layout(self, (18, 12), 6)
        top = QHBoxLayout()
        top.addWidget(label("Face tags read from photos", "sectionTitle"))
        self.when = label("", "muted")
        top.addWidget(self.when, 1)
        self.unreadable_button = button("", tooltip="The photos and why each could not be read")
        self.unreadable_button.setCheckable(True)
        top.addWidget(self.unreadable_button)
        layout.addLayout(top)
        self.headline = label("", "figure", wrap=True)
        layout.addWidget(self.headline)
        self.details = label("", "muted", wrap=True)
        layout.addWidget(self.details)
        self.model: TableModel[tuple[str, str]] = TableModel(
            UNREADABLE_COLUMNS, key=lambda u: u[0], parent=self
        )
        self.unreadable = file_table(self.model)
        self.unreadable.hide()
        layout.addWidget(self.unreadable)
        self.more = label("", "muted")
        self.more.hide()
        layout.addWidget(self.more)
        self.summary: LastImport | None = None
        self.unreadable_button.toggled.connect(self._toggle)
        self.hide()

    def show_summary(self, summary: LastImport | None) -> None:
        """Show the last import (hidden while tags were never read)."""
        self.summary = summary
        if summary is None:
            self.hide()
            return
        self.when.setText(f"  last read {when(summary)}")
        self.headline.setText(tag_headline(summary))
        details = tag_details(summary)
        self.details.setText(details)
        self.details.setVisible(bool(details))
        self.model.set_rows(summary.unreadable)
        rows = min(6, max(1, len(summary.unreadable)))
        row_height = max(22, self.unreadable.sizeHintForRow(0)) if summary.unreadable else 22
        self.unreadable.setFixedHeight(
            self.unreadable.header().sizeHint().height() + 6 + rows * row_height
        )
        count = summary.unreadable_total
        self.unreadable_button.setVisible(bool(count))
        if not count:
            self.unreadable_button.setChecked(False)
        self._toggle(self.unreadable_button.isChecked())
        hidden = count - len(summary.unreadable)
        self.more.setText(f"… and {hidden:,} more (import-tags --json lists them all)")
        self.show()

    def _toggle(self, shown: bool) -> None:
        count = self.summary.unreadable_total if self.summary else 0
        what = f"{plural(count, 'photo')} whose metadata could not be read"
        self.unreadable_button.setText(("Hide " if shown else "Show ") + what)
        self.unreadable.setVisible(shown and bool(count))
        hidden = count - (len(self.summary.unreadable) if self.summary else 0)
        self.more.setVisible(shown and hidden > 0)
