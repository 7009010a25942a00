"""Rules that keep the user's word when the faces of a photo change.

A changed photo is detected again; the user's labels on its old faces must survive. Each old face
hands its person, how that person was given (automatic, suggested or confirmed), its rejections
("not this person"), its ignored flag, its cover role and its edit history to the new face in the
same place.
"""

from __future__ import annotations

import logging

import numpy as np
from sqlalchemy.orm import Session

from facenet_core.people.history import follow_faces
from facenet_core.store import Assignment, Face, FaceRejection

log = logging.getLogger(__name__)

SAME_PLACE_IOU = 0.5
"""Boxes overlapping at least this much (IoU) are the same face in a re-detected photo."""


def carry_labels(
    session: Session, old_faces: list[Face], new_faces: list[Face], iou: np.ndarray
) -> list[int]:
    """Hand each old face's labels to the new face in the same place, then delete the old faces.

    ``iou[i, j]`` is the overlap of ``old_faces[i]`` and ``new_faces[j]``. The new faces must be
    in the session. Besides the person, the assignment, the rejections and the ignored flag, the
    old face's place in the edit history (so undo still works) and its role as a person's cover
    go to the new face. Returns the ids of the deleted old faces (their thumbnails can go). A
    confirmed face with no new face in its place is logged: the photo changed so much that the
    face is gone."""
    session.flush()  # the new faces get their ids
    taken: set[int] = set()
    renamed: dict[int, int] = {}
    for i, old in enumerate(old_faces):
        best, best_iou = None, SAME_PLACE_IOU
        for j in range(len(new_faces)):
            if j not in taken and iou[i, j] >= best_iou:
                best, best_iou = j, float(iou[i, j])
        if best is not None:
            taken.add(best)
            new = new_faces[best]
            new.person_id = old.person_id
            new.assignment = old.assignment
            new.assignment_confidence = old.assignment_confidence
            new.is_ignored = old.is_ignored
            for rejection in old.rejections:
                new.rejections.append(FaceRejection(person_id=rejection.person_id))
            renamed[old.id] = new.id
        elif old.assignment == Assignment.CONFIRMED:
            log.warning(
                "photo %s changed and the confirmed face %s is no longer found in it",
                old.photo.path if old.photo else "?",
                old.id,
            )
    follow_faces(session, renamed)  # before the old faces (and their history) are deleted
    removed: list[int] = []
    for old in old_faces:
        removed.append(old.id)
        session.delete(old)
    return removed
