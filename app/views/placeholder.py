"""Pages whose core is not in this build yet: they say so plainly instead of pretending."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from app.context import AppContext
from app.views.base import View
from app.widgets import EmptyState, PageHeader


class Placeholder(View):
    def __init__(
        self,
        ctx: AppContext,
        title: str,
        icon_name: str,
        headline: str,
        text: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(ctx, parent)
        self.title = title
        self.icon_name = icon_name
        self.page.addWidget(PageHeader(title, ""))
        self.page.addWidget(EmptyState(headline, text, icon_name), 1)


def placeholder_views(ctx: AppContext) -> list[View]:
    return [
        Placeholder(
            ctx,
            "People",
            "people",
            "People are not grouped in this build yet",
            "Scanning finds and stores every face; grouping them into people arrives with the "
            "people module.",
        ),
        Placeholder(ctx, "Photos", "photos", "Photos", "The photo grid arrives with people."),
        Placeholder(ctx, "Unassigned", "unassigned", "Unassigned faces", "Arrives with people."),
        Placeholder(ctx, "Ignored", "ignored", "Ignored faces", "Arrives with people."),
        Placeholder(
            ctx,
            "Training",
            "training",
            "Training is not available in this build",
            "Fine-tuning the face model on the people you named is planned.",
        ),
    ]
