"""Training data: face chips by person, from a library's confirmed faces or a folder of people.

**From a library**: the faces the user confirmed (``Face.assignment == "confirmed"``, not
ignored, photo not missing), grouped by person, chips re-made from the stored photos and
landmarks (:mod:`facenet_core.library.chips`, the scan's own alignment).

**From a folder**: ``DIR/<person>/<photos>``; the largest detected face of each photo (photos
without a face are skipped and counted).

**Held-out faces and the minimum.** A person with at least ``MIN_FACES`` (8) faces is *trained*:
a quarter of their faces (at least 2) are held out for validation, the rest form anchor-positive
pairs. People with fewer faces only serve as negatives (their faces never anchor a triplet and
are not validated). Fine-tuning needs ``MIN_PEOPLE`` (3) trained people. Why these numbers:
2 held-out faces per person are the fewest that give same-person validation pairs (VAL needs
them); 6 training faces give 30 anchor-positive pairs per person per batch; with 3 people every
batch has negatives of at least 2 other people, and validation has different-person pairs
between 3 people. Below that, any "improvement" would be noise.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select

from facenet_core.errors import UserError
from facenet_core.library.chips import FaceRef, face_rows, rebuild_chips
from facenet_core.progress import CancelToken, PhaseClock, Reporter, ignore_progress
from facenet_core.settings import Settings
from facenet_core.store import Assignment, Face, Library, Person, PhotoStatus
from facenet_core.types import CHIP_SIZE
from facenet_core.vision.engines import Engines, shared_engines
from facenet_core.vision.faces import FaceJob, find_faces

log = logging.getLogger(__name__)

MIN_FACES = 8
"""Confirmed faces a person needs to be trained on (else: negatives only)."""
MIN_PEOPLE = 3
"""Trained people a fine-tuning run needs."""
MIN_HOLDOUT = 2
"""Held-out faces per trained person, at least (same-person validation pairs need two)."""
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".heic", ".heif"}


class NotEnoughFaces(UserError, ValueError):
    """Too few confirmed faces to fine-tune; the message says how many more are needed."""


@dataclass
class FaceSet:
    """Chips (N, 150, 150, 3) uint8 with their person (index into ``names``) and an id each
    (``face:<id>`` for library faces, the photo's path for a folder); ``arcface``: the same
    faces' ArcFace chips (N, 112, 112, 3) when asked for (the fused model's SFace reads them)."""

    chips: np.ndarray
    person: np.ndarray
    names: list[str]
    ids: list[str]
    skipped: int = 0
    arcface: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.person)


@dataclass(frozen=True)
class Split:
    """Indices into a :class:`FaceSet`: training faces with their labels (the person, or
    ``-(person + 1)`` for negative-only faces) and held-out faces of trained people."""

    train: np.ndarray
    train_labels: np.ndarray
    holdout: np.ndarray
    holdout_labels: np.ndarray
    trained_people: list[int]
    negative_people: list[int]


def split_faces(
    person: np.ndarray,
    *,
    holdout: float = 0.25,
    min_faces: int = MIN_FACES,
    seed: int = 0,
) -> Split:
    """Hold out ``holdout`` of each trained person's faces (at least ``MIN_HOLDOUT``), chosen
    reproducibly from ``seed``; people with fewer than ``min_faces`` faces are negatives only."""
    person = np.asarray(person)
    train: list[int] = []
    labels: list[int] = []
    held: list[int] = []
    held_labels: list[int] = []
    trained: list[int] = []
    negatives: list[int] = []
    for p in sorted(set(person.tolist())):
        faces = np.flatnonzero(person == p)
        if len(faces) < min_faces:
            negatives.append(p)
            train += faces.tolist()
            labels += [-(p + 1)] * len(faces)
            continue
        trained.append(p)
        order = np.random.default_rng([seed, p]).permutation(faces)
        n_held = min(len(faces) - 2, max(MIN_HOLDOUT, round(holdout * len(faces))))
        held += sorted(order[:n_held].tolist())
        held_labels += [p] * n_held
        rest = sorted(order[n_held:].tolist())
        train += rest
        labels += [p] * len(rest)
    return Split(
        train=np.array(train, dtype=np.int64),
        train_labels=np.array(labels, dtype=np.int64),
        holdout=np.array(held, dtype=np.int64),
        holdout_labels=np.array(held_labels, dtype=np.int64),
        trained_people=trained,
        negative_people=negatives,
    )


def shortfall(
    counts: dict[str, int], min_people: int = MIN_PEOPLE, min_faces: int = MIN_FACES
) -> str | None:
    """None when ``counts`` (confirmed faces per person) are enough to fine-tune; otherwise a
    message saying how many more confirmations are needed, and of whom."""
    ready = sorted((n for n, c in counts.items() if c >= min_faces), key=str.casefold)
    if len(ready) >= min_people:
        return None
    missing = min_people - len(ready)
    # the cheapest way there: the people closest to the minimum, then new people
    others = sorted(
        ((c, n) for n, c in counts.items() if c < min_faces), key=lambda t: (-t[0], t[1])
    )
    steps = [f"{min_faces - c} more of {n} (has {c})" for c, n in others[:missing]]
    new_people = missing - len(steps)
    if new_people > 0:
        who = "person" if new_people == 1 else "people"
        steps.append(f"{min_faces} faces each of {new_people} more {who}")
    needed = sum(min_faces - c for c, _ in others[:missing]) + new_people * min_faces
    have = f"{len(ready)} ({', '.join(f'{n}: {counts[n]}' for n in ready)})" if ready else "none"
    return (
        f"fine-tuning needs at least {min_people} people with at least {min_faces} confirmed "
        f"faces each; ready: {have}. Confirm {needed} more faces: " + "; ".join(steps)
    )


# -- from a library -------------------------------------------------------------------------


def confirmed_refs(library: Library) -> tuple[list[FaceRef], list[int], dict[int, str]]:
    """The confirmed, not ignored faces of photos still on disk, their person ids, and each
    person's display name."""
    with library.session() as session:
        query = (
            face_rows()
            .where(
                Face.assignment == Assignment.CONFIRMED.value,
                Face.person_id.is_not(None),
                Face.is_ignored.is_(False),
            )
            .where(Face.photo.has(status=PhotoStatus.DONE.value))
        )
        rows = session.execute(query).all()
        refs: list[FaceRef] = []
        person_ids: list[int] = []
        for face, photo in rows:
            assert face.person_id is not None  # the query asks for a person
            refs.append(FaceRef.from_rows(face, photo))
            person_ids.append(face.person_id)
        people = session.execute(select(Person.id, Person.name)).all()
    names = {pid: (name or "").strip() or f"person #{pid}" for pid, name in people}
    return refs, person_ids, names


def library_counts(library: Library) -> dict[str, int]:
    """Confirmed faces per person (by display name)."""
    _, person_ids, names = confirmed_refs(library)
    return {names[pid]: n for pid, n in Counter(person_ids).items()}


def library_faces(
    library: Library,
    *,
    workers: int = 2,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
    arcface: bool = False,
) -> FaceSet:
    """Chips of every confirmed face, by person (``arcface``: and their ArcFace chips, made
    from the photo as the scan makes them). Raises :class:`NotEnoughFaces` (before any photo is
    read) when there are too few."""
    refs, person_ids, names = confirmed_refs(library)
    counts = Counter(person_ids)
    message = shortfall({names[p]: n for p, n in counts.items()})
    if message is not None:
        raise NotEnoughFaces(message)
    order = sorted(counts)
    index = {pid: i for i, pid in enumerate(order)}
    person_of = {ref.face_id: index[pid] for ref, pid in zip(refs, person_ids, strict=True)}
    chips: list[np.ndarray] = []
    arcs: list[np.ndarray] = []
    person: list[int] = []
    ids: list[str] = []
    skipped = 0
    clock = PhaseClock("train", "chips", "face")
    for photo in rebuild_chips(refs, workers=workers, arcface=arcface):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if photo.error is not None:
            skipped += len(photo.refs)
            log.warning("training: skipping %s: %s", photo.refs[0].path, photo.error)
            continue
        chips.append(photo.chips)
        if arcface:
            assert photo.arcface is not None
            arcs.append(photo.arcface)
        person += [person_of[r.face_id] for r in photo.refs]
        ids += [f"face:{r.face_id}" for r in photo.refs]
        reporter(clock.event(len(ids) + skipped, len(refs)))
    found = FaceSet(
        chips=np.concatenate(chips) if chips else np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8),
        person=np.array(person, dtype=np.int64),
        names=[names[pid] for pid in order],
        ids=ids,
        skipped=skipped,
        arcface=(np.concatenate(arcs) if arcs else None) if arcface else None,
    )
    if skipped:  # unreadable photos may leave too few
        message = shortfall(counts_of(found))
        if message is not None:
            raise NotEnoughFaces(f"{skipped} confirmed faces' photos could not be read; {message}")
    return found


# -- from a folder --------------------------------------------------------------------------


def dataset_faces(
    folder: Path,
    settings: Settings,
    *,
    engines: Engines | None = None,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> FaceSet:
    """Chips of ``folder/<person>/<photo>``: the largest face of each photo."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: not a folder")
    people = sorted(p for p in folder.iterdir() if p.is_dir())
    paths: list[Path] = []
    owner: list[int] = []
    for i, person_dir in enumerate(people):
        for path in sorted(person_dir.rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                paths.append(path)
                owner.append(i)
    if not paths:
        raise NotEnoughFaces(f"{folder}: no photos in person sub-folders (DIR/NAME/photo.jpg)")
    engines = engines or shared_engines()
    config = engines.detector_config(settings)
    shared = engines.detector(config) if config.name == "mtcnn" else None
    chips: list[np.ndarray] = []
    person: list[int] = []
    ids: list[str] = []
    skipped = 0
    clock = PhaseClock("train", "faces", "photo")
    job = FaceJob(detector=config)
    for i, found in enumerate(find_faces(paths, job, settings.workers, detector=shared)):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if found.error is not None or not found.detections:
            skipped += 1
        else:
            areas = [d.width * d.height for d in found.detections]
            chips.append(found.chips[int(np.argmax(areas))])
            person.append(owner[i])
            ids.append(str(paths[i]))
        reporter(clock.event(i + 1, len(paths), skipped=skipped))
    return FaceSet(
        chips=np.stack(chips) if chips else np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8),
        person=np.array(person, dtype=np.int64),
        names=[p.name for p in people],
        ids=ids,
        skipped=skipped,
    )


def counts_of(face_set: FaceSet) -> dict[str, int]:
    return {face_set.names[p]: int(n) for p, n in Counter(face_set.person.tolist()).items()}


def describe(face_set: FaceSet, split: Split) -> dict[str, int]:
    """Sizes for reports: people and faces trained, held out, negatives only."""
    return {
        "people_trained": len(split.trained_people),
        "people_negative_only": len(split.negative_people),
        "faces_train": int((split.train_labels >= 0).sum()),
        "faces_negative_only": int((split.train_labels < 0).sum()),
        "faces_held_out": len(split.holdout),
        "faces_skipped": face_set.skipped,
    }


def face_ids(face_set: FaceSet, indices: Sequence[int] | np.ndarray) -> list[str]:
    return [face_set.ids[i] for i in indices]
