"""The Training page: fine-tuning the face model on the people the user named is not in this
build; the page says so plainly instead of pretending."""

from __future__ import annotations

from app.context import AppContext
from app.views.base import View
from app.widgets import EmptyState, PageHeader


class TrainingView(View):
    title = "Training"
    icon_name = "training"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.page.addWidget(PageHeader("Training", "Teach the face model your people"))
        self.page.addWidget(
            EmptyState(
                "Not available in this build",
                "Fine-tuning the face model on the people you named (so it tells your "
                "family apart better) is planned. Naming and correcting people already "
                "improves suggestions: every confirmed face is used for recognition.",
                "training",
            ),
            1,
        )


def training_view(ctx: AppContext) -> View:
    return TrainingView(ctx)
