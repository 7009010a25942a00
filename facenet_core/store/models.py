"""The photo library's tables, as SQLAlchemy 2.0 typed declarative models.

Why each table exists, in one line each:

- :class:`Root`: a folder the user asked us to watch; scans start here.
- :class:`Photo`: one image file, what we know about it, and how far processing got.
- :class:`Face`: one face found in a photo: where it is (box + five landmarks, enough to rebuild
  the aligned chip without detecting again) and whom it belongs to, and *who said so*.
- :class:`ModelVersion`: one set of embedding-network weights (the pretrained one, and every
  fine-tuned descendant). Exactly one is active.
- :class:`Embedding`: a face's 128-byte quantized embedding *under one model version*. Older
  versions' embeddings are kept so that restoring an older model needs no re-embedding.
- :class:`Person`: a cluster of faces, named by the user or not (yet).
- :class:`FaceRejection`: the user said "this face is NOT this person"; it must never be
  assigned to that person again, by any clustering or recognition run.
- :class:`ScanJob`: one run of the scanner, so that an interrupted scan can be noticed and resumed.
- :class:`FolderProblem`: a folder below a root that a scan could not read (and why).
- :class:`LibrarySetting`: the library's own settings (``facenet_core.settings``), one row per key.
- :class:`Edit` (+ :class:`EditPerson`, :class:`EditFace`, :class:`EditRejection`): the user's
  recent edits of people, each with the before-image of every row it changed, for undo.
- :class:`PhotoPerson`: a person on a photo without a face box (a back, a face no detector found).
- :class:`FaceTagSource`: a face whose person a face-tag import decided (its provenance).
- :class:`EditPhotoPerson`: a photo-level person tag as it was before an edit, for undo.
- :class:`JobState`: small bookmarks of long jobs (e.g. the last face recognition has seen).

Schema changes go through Alembic migrations in ``migrations/versions``; a test compares these
models with the migrated schema, so the two cannot drift apart.

Conventions: every ``*_at`` timestamp is stored as UTC (:class:`UTCDateTime`) and comes back
timezone-aware, except :attr:`Photo.taken_at`, which is the camera's wall-clock time from EXIF and
has no time zone. Enum-like columns are plain strings guarded by ``CHECK`` constraints; the
allowed values are the :class:`enum.StrEnum` classes below, whose members *are* strings.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    event,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from facenet_core.types import EMBEDDING_BYTES as EMBEDDING_BYTES
from facenet_core.types import EMBEDDING_SIZES

LANDMARK_COUNT = 5
"""Five landmarks per face, stored as 10 little-endian float32 values: x0, y0, x1, y1, ..."""

LANDMARK_BYTES = LANDMARK_COUNT * 2 * 4
_LANDMARK_STRUCT = struct.Struct(f"<{LANDMARK_COUNT * 2}f")


class PhotoStatus(enum.StrEnum):
    """How far a photo got through the pipeline."""

    PENDING = "pending"  # found by a scan, not processed yet (the resume queue)
    DONE = "done"  # faces detected (possibly none) and embedded
    FAILED = "failed"  # could not be processed; ``Photo.error`` says why
    MISSING = "missing"  # the file is gone from disk; its faces and labels are kept
    # the file or its folder cannot be read now (permission denied): it may well still be there,
    # so its faces and labels are kept and no copy elsewhere is ever taken for it moving
    UNAVAILABLE = "unavailable"


class Assignment(enum.StrEnum):
    """Who decided that a face belongs to its person: the user's word outranks the machine's."""

    NONE = "none"  # no person
    AUTO = "auto"  # clustering or recognition put it there; may change on any later run
    SUGGESTED = "suggested"  # recognition thinks so, not sure enough: a question for the user
    CONFIRMED = "confirmed"  # the user said so; no automatic run may change it


DRAWN_BY_USER = "user"
""":attr:`Face.detector` of a face the user drew by hand: no re-detection replaces or removes it
(``library.ingest``), and only such a face can be deleted (``people.edits.delete_drawn_face``)."""


class MediaKind(enum.StrEnum):
    """What a :class:`Photo` row holds: a still photo, or a video (its faces are tracks)."""

    PHOTO = "photo"
    VIDEO = "video"


class LandmarkScheme(enum.StrEnum):
    """Which five points a detector finds (see :mod:`facenet_core.detect`)."""

    DLIB5 = "dlib5"
    MTCNN5 = "mtcnn5"
    YUNET5 = "yunet5"


class ScanStatus(enum.StrEnum):
    """Outcome of one scan run."""

    RUNNING = "running"  # still going, or the app died: see ``CRASHED``
    DONE = "done"
    CANCELLED = "cancelled"  # the user stopped it; pending photos stay pending
    CRASHED = "crashed"  # found still "running" at the next start-up


def _in(column: str, values: type[enum.StrEnum]) -> str:
    """SQL for ``column IN ('a', 'b', ...)`` from a StrEnum: keeps CHECKs and enums in step."""
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


def utcnow() -> datetime:
    """The current time, timezone-aware UTC: the default for every ``*_at`` column."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A ``DATETIME`` stored as naive UTC and returned as timezone-aware UTC.

    SQLite has no time zone type, so mixing naive and aware datetimes silently shifts times.
    This type converts aware values to UTC on the way in (naive values are taken to be UTC
    already) and attaches UTC on the way out.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def pack_landmarks(points: Iterable[float] | Iterable[Sequence[float]]) -> bytes:
    """Five ``(x, y)`` points (or 10 flat numbers, or a ``(5, 2)`` numpy array) -> 40 bytes."""
    flat: list[float] = []
    for item in points:
        if hasattr(item, "__iter__"):
            flat.extend(float(v) for v in item)
        else:
            flat.append(float(item))
    if len(flat) != LANDMARK_COUNT * 2:
        raise ValueError(
            f"a face needs {LANDMARK_COUNT} landmarks (x, y), i.e. {LANDMARK_COUNT * 2} numbers;"
            f" got {len(flat)}"
        )
    return _LANDMARK_STRUCT.pack(*flat)


def unpack_landmarks(blob: bytes) -> list[tuple[float, float]]:
    """40 stored bytes -> five ``(x, y)`` points (``np.frombuffer(blob, "<f4")`` also works)."""
    flat = _LANDMARK_STRUCT.unpack(blob)
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Every constraint gets a predictable name, which SQLite batch migrations need to alter it."""


class Base(DeclarativeBase):
    """Declarative base for the library's tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Root(Base):
    """A folder the user added to the library; every scan walks the roots."""

    __tablename__ = "roots"

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(String, unique=True)
    """The folder's real path (``os.path.realpath``: links and ``..`` resolved): its identity."""
    added_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    added_path: Mapped[str | None] = mapped_column(String)
    """The path as the user gave it (absolute, links not resolved), to show back to them."""

    photos: Mapped[list[Photo]] = relationship(back_populates="root", passive_deletes=True)

    def __repr__(self) -> str:
        return f"Root(id={self.id!r}, path={self.path!r})"


class Photo(Base):
    """One image file in the library.

    ``size`` + ``mtime_ns`` tell a rescan whether the file changed without reading it;
    ``content_hash`` recognises a moved or renamed file (and duplicates, which is why it is not
    unique). ``width`` / ``height`` are in *displayed* orientation (after EXIF rotation), the
    same pixel space as every face box and landmark. ``status`` makes scans resumable: pending
    photos are the queue. ``detector`` / ``detector_settings`` record what looked for faces, so
    a later, better detector knows which photos to revisit.
    """

    __tablename__ = "photos"
    __table_args__ = (
        CheckConstraint(_in("status", PhotoStatus), name="status"),
        Index(None, "content_hash"),
        Index(None, "status"),
        Index(None, "root_id"),
        Index(None, "taken_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    root_id: Mapped[int | None] = mapped_column(ForeignKey("roots.id", ondelete="SET NULL"))
    """The root it was found under; NULL once that root is removed (the photo's labels stay)."""
    path: Mapped[str] = mapped_column(String, unique=True)
    """The file's real path (links and ``..`` resolved), so one file is one photo however it is
    reached."""
    size: Mapped[int] = mapped_column(BigInteger)
    """File size in bytes."""
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    """File modification time, ``os.stat().st_mtime_ns``."""
    content_hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the file's bytes, lowercase hex."""
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime)
    """EXIF ``DateTimeOriginal``: camera wall-clock time, naive (no time zone is known)."""
    status: Mapped[str] = mapped_column(
        String(16), default=PhotoStatus.PENDING.value, server_default=PhotoStatus.PENDING.value
    )
    error: Mapped[str | None] = mapped_column(Text)
    """Why processing failed, in words a person understands ("not an image file", ...)."""
    scanned_at: Mapped[datetime | None]
    """When the photo was last processed (NULL while pending)."""
    detector: Mapped[str | None] = mapped_column(String)
    """Name of the face detector that processed it."""
    detector_settings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """That detector's settings (thresholds, upsampling, ...), as JSON."""
    media_kind: Mapped[str] = mapped_column(
        String(8), default=MediaKind.PHOTO.value, server_default=MediaKind.PHOTO.value
    )
    """:class:`MediaKind`: ``video`` for a video, whose faces are tracks across its frames.
    No CHECK constraint: adding one would rebuild the largest table (migration 0008)."""
    duration_s: Mapped[float | None] = mapped_column(Float)
    """A video's length in seconds (NULL for a photo, or a video not read yet)."""

    root: Mapped[Root | None] = relationship(back_populates="photos")
    faces: Mapped[list[Face]] = relationship(
        back_populates="photo", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"Photo(id={self.id!r}, path={self.path!r}, status={self.status!r})"


class ModelVersion(Base):
    """One set of embedding-network weights that produced embeddings.

    The pretrained network is the first version; each fine-tuning run that is promoted adds a
    version whose ``parent_id`` is the version it started from. Exactly one version is active:
    its embeddings are the "current" ones (the query helpers keep that invariant, and a partial
    unique index forbids two active versions). Restoring an older version just activates it.
    """

    __tablename__ = "model_versions"
    __table_args__ = (
        Index(None, "name", "weights_sha256", unique=True),
        Index(
            "uq_model_versions_one_active",
            "is_active",
            unique=True,
            sqlite_where=text("is_active = 1"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String)
    """Registry name of the architecture + weights family, e.g. ``"dlib-resnet-v1"``."""
    weights_sha256: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the weights file: tells two sets of weights of one name apart."""
    weights_path: Mapped[str | None] = mapped_column(String)
    """Where fine-tuned weights are stored; NULL for weights that ship with the app."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL")
    )
    """The version this one was fine-tuned from; NULL for pretrained weights."""
    is_active: Mapped[bool] = mapped_column(default=False, server_default=text("0"))
    notes: Mapped[str | None] = mapped_column(Text)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Validation results that justified promoting it (e.g. VAL@FAR, nearest-person error)."""

    parent: Mapped[ModelVersion | None] = relationship(remote_side=[id])

    def __repr__(self) -> str:
        return (
            f"ModelVersion(id={self.id!r}, name={self.name!r},"
            f" sha={self.weights_sha256[:8]!r}, active={self.is_active!r})"
        )


class Person(Base):
    """A person: a group of faces, named by the user or still anonymous.

    Unnamed people are clusters the machine proposed. A named person is the user's: automatic
    runs never rename, merge away or empty it. ``cover_face_id`` is the face shown in the people
    grid; faces and people point at each other, so that foreign key is created "later"
    (``use_alter``) and written after both rows exist (``post_update``).
    """

    __tablename__ = "people"
    # AUTOINCREMENT: an id is never used twice, so a deleted person's id (kept in the edit
    # history for undo, or shown in the app) can never come to mean somebody else
    __table_args__ = (Index(None, "cover_face_id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    is_hidden: Mapped[bool] = mapped_column(default=False, server_default=text("0"))
    """The user hid this person from the people grid (e.g. strangers in the background)."""
    cover_face_id: Mapped[int | None] = mapped_column(
        ForeignKey("faces.id", ondelete="SET NULL", use_alter=True)
    )
    """The face the user chose to show in the people grid (queries fall back to the first
    confirmed face while it is unset or no longer this person's)."""
    face_count: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    """Faces that belong to the person (automatic + confirmed). This and the two counts below
    are kept by triggers on ``faces`` (see :data:`COUNT_TRIGGERS`), so the people grid of a
    million-face library needs no pass over the faces; never write them."""
    confirmed_count: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    suggestion_count: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    """Pending suggestions: faces recognition thinks may be this person."""

    faces: Mapped[list[Face]] = relationship(
        back_populates="person", foreign_keys="Face.person_id", passive_deletes=True
    )
    cover_face: Mapped[Face | None] = relationship(foreign_keys=[cover_face_id], post_update=True)
    rejections: Mapped[list[FaceRejection]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"Person(id={self.id!r}, name={self.name!r})"


SUGGESTED_WHERE = "assignment = 'suggested'"


class Face(Base):
    """One face in one photo, and the answer to "who is this?".

    Geometry is in the photo's displayed-orientation pixels: ``x1, y1, x2, y2`` is the detector's
    box and ``landmarks`` its five points in ``landmark_scheme`` order. The landmarks, the scheme
    and the photo's path are all that re-embedding with a new model version needs to rebuild the
    aligned chip, so faces are never detected twice just because the network changed.

    ``assignment`` records who put the face with its person (see :class:`Assignment`); a
    ``"suggested"`` face is only a question to the user and not yet counted as the person's. If
    the person is deleted, ``person_id`` becomes NULL and a trigger resets ``assignment`` to
    ``"none"``. ``is_ignored`` means the user said "stranger" or "not a face": clustering and
    recognition leave it alone (an ignored face has no person).
    """

    __tablename__ = "faces"
    __table_args__ = (
        CheckConstraint(_in("assignment", Assignment), name="assignment"),
        CheckConstraint(_in("landmark_scheme", LandmarkScheme), name="landmark_scheme"),
        CheckConstraint(f"length(landmarks) = {LANDMARK_BYTES}", name="landmarks_length"),
        Index(None, "photo_id"),
        # covers "faces of a person", per-person counts and "photos with all these people"
        Index(None, "person_id", "assignment", "photo_id"),
        Index("ix_faces_ignored", "id", sqlite_where=text("is_ignored = 1")),
        Index("ix_faces_suggested", "assignment_confidence", sqlite_where=text(SUGGESTED_WHERE)),
        # ids only grow: recognition remembers the newest face it has seen
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"))
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    landmarks: Mapped[bytes] = mapped_column(LargeBinary)
    """Five (x, y) points as 10 little-endian float32 (use :attr:`landmark_points`)."""
    landmark_scheme: Mapped[str] = mapped_column(String(16))
    detector: Mapped[str] = mapped_column(String)
    """The detector that found it, or :data:`DRAWN_BY_USER` for a face the user drew by hand."""
    det_score: Mapped[float] = mapped_column(Float)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    assignment: Mapped[str] = mapped_column(
        String(16), default=Assignment.NONE.value, server_default=Assignment.NONE.value
    )
    assignment_confidence: Mapped[float | None] = mapped_column(Float)
    """How sure recognition was of an automatic or suggested assignment (NULL for the user's
    own), in [0, 1]."""
    is_ignored: Mapped[bool] = mapped_column(default=False, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    track_start_s: Mapped[float | None] = mapped_column(Float)
    """A video face (one track): when it is first seen, in seconds; NULL in a photo."""
    track_end_s: Mapped[float | None] = mapped_column(Float)
    """When the track is last seen."""
    frame_s: Mapped[float | None] = mapped_column(Float)
    """The time of the track's best frame: the one its box, landmarks and thumbnail are from."""

    photo: Mapped[Photo] = relationship(back_populates="faces")
    person: Mapped[Person | None] = relationship(back_populates="faces", foreign_keys=[person_id])
    embeddings: Mapped[list[Embedding]] = relationship(
        back_populates="face", cascade="all, delete-orphan", passive_deletes=True
    )
    rejections: Mapped[list[FaceRejection]] = relationship(
        back_populates="face", cascade="all, delete-orphan", passive_deletes=True
    )

    @validates("landmarks")
    def _check_landmarks(self, key: str, value: bytes) -> bytes:
        if len(value) != LANDMARK_BYTES:
            raise ValueError(
                f"landmarks must be {LANDMARK_BYTES} bytes (5 points as float32), got {len(value)};"
                " use pack_landmarks()"
            )
        return bytes(value)

    @property
    def box(self) -> tuple[float, float, float, float]:
        """``(x1, y1, x2, y2)`` in displayed-orientation pixels of the photo."""
        return (self.x1, self.y1, self.x2, self.y2)

    @box.setter
    def box(self, value: Sequence[float]) -> None:
        self.x1, self.y1, self.x2, self.y2 = (float(v) for v in value)

    @property
    def landmark_points(self) -> list[tuple[float, float]]:
        """The five landmarks as ``(x, y)`` pairs, in ``landmark_scheme`` order."""
        return unpack_landmarks(self.landmarks)

    @landmark_points.setter
    def landmark_points(self, points: Iterable[Sequence[float]]) -> None:
        self.landmarks = pack_landmarks(points)

    def __repr__(self) -> str:
        return (
            f"Face(id={self.id!r}, photo_id={self.photo_id!r}, person_id={self.person_id!r},"
            f" assignment={self.assignment!r})"
        )


class Embedding(Base):
    """A face's embedding under one model version: one signed byte per component of the
    quantized unit vector, 128 (fast model) or 256 (the accurate model's fused vector).

    The primary key is ``(face_id, model_version_id)``: a face has at most one embedding per
    version, and its "current" embedding is the one of the active version.
    """

    __tablename__ = "embeddings"
    __table_args__ = (
        CheckConstraint(
            f"length(vector) IN ({', '.join(map(str, EMBEDDING_SIZES))})", name="vector_length"
        ),
        Index(None, "model_version_id"),
    )

    face_id: Mapped[int] = mapped_column(
        ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True
    )
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    vector: Mapped[bytes] = mapped_column(LargeBinary)

    face: Mapped[Face] = relationship(back_populates="embeddings")
    model_version: Mapped[ModelVersion] = relationship()

    @validates("vector")
    def _check_vector(self, key: str, value: bytes) -> bytes:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"an embedding vector must be bytes, got {type(value).__name__}")
        value = bytes(value)
        if len(value) not in EMBEDDING_SIZES:
            raise ValueError(f"an embedding vector must be 128 or 256 bytes, got {len(value)}")
        return value

    def __repr__(self) -> str:
        return f"Embedding(face_id={self.face_id!r}, model_version_id={self.model_version_id!r})"


class FaceRejection(Base):
    """The user's "this face is NOT this person": it must never be assigned there again.

    Survives re-clustering, recognition runs and model upgrades; deleted only with the face or
    the person.
    """

    __tablename__ = "face_rejections"
    __table_args__ = (Index(None, "person_id"),)

    face_id: Mapped[int] = mapped_column(
        ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())

    face: Mapped[Face] = relationship(back_populates="rejections")
    person: Mapped[Person] = relationship(back_populates="rejections")

    def __repr__(self) -> str:
        return f"FaceRejection(face_id={self.face_id!r}, person_id={self.person_id!r})"


class PhotoPerson(Base):
    """A person on a photo without a face box: a back, a blurred face, a face no detector found,
    or a name another program wrote without a region that could not be put on one face.

    Such a photo is one of the person's photos (and of "photos of A and B") like a photo where
    their face was found, and export writes it as ``PersonInImage``. ``source`` says who said
    so: ``"user"``, or ``"tag:<format>"`` for an import. Deleted with the photo or the person."""

    __tablename__ = "photo_people"
    __table_args__ = (Index(None, "person_id", "photo_id"),)

    photo_id: Mapped[int] = mapped_column(
        ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(32), default="user", server_default="user")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())

    def __repr__(self) -> str:
        return f"PhotoPerson(photo_id={self.photo_id!r}, person_id={self.person_id!r})"


class FaceTagSource(Base):
    """A face whose person a tag import decided: the face was matched to a named region (or a
    name without a box) and confirmed with that name's person. Valid while the face is still
    with ``person_id`` (the user may move it since); deleted with the face or the person."""

    __tablename__ = "face_tag_sources"
    __table_args__ = (Index(None, "person_id"),)

    face_id: Mapped[int] = mapped_column(
        ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(32))
    """The format the name came from (``mwg``, ``iptc``, ``mp``, ``keywords``, ...)."""
    imported_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())

    def __repr__(self) -> str:
        return f"FaceTagSource(face_id={self.face_id!r}, source={self.source!r})"


class ScanJob(Base):
    """One scan run. A job still ``"running"`` at start-up means the app died mid-scan: mark it
    ``"crashed"`` and resume from the photos still pending."""

    __tablename__ = "scan_jobs"
    __table_args__ = (CheckConstraint(_in("status", ScanStatus), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    finished_at: Mapped[datetime | None]
    roots: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Folder paths this run walked."""
    status: Mapped[str] = mapped_column(
        String(16), default=ScanStatus.RUNNING.value, server_default=ScanStatus.RUNNING.value
    )
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    """Progress tallies, e.g. ``{"new": 10, "changed": 2, "failed": 1, "faces": 31}``."""

    def __repr__(self) -> str:
        return f"ScanJob(id={self.id!r}, status={self.status!r})"


class FolderProblem(Base):
    """A folder below a root that the last scan of that root could not read (permission denied,
    ...). The photos already known below it are ``unavailable``, not missing; the row goes away
    when a scan can read the folder again (or finds it gone)."""

    __tablename__ = "folder_problems"
    __table_args__ = (Index(None, "root_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    root_id: Mapped[int | None] = mapped_column(ForeignKey("roots.id", ondelete="SET NULL"))
    path: Mapped[str] = mapped_column(String, unique=True)
    """The folder's path as the scan reached it (real path)."""
    error: Mapped[str] = mapped_column(Text)
    """Why it could not be read, in words a person understands."""
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())

    def __repr__(self) -> str:
        return f"FolderProblem(path={self.path!r}, error={self.error!r})"


class ForgottenFace(Base):
    """A face the user asked to forget: only its place in its photo is kept (no embedding, no
    thumbnail, no person, no name), so that detecting the photo again (it changed, or a new
    detector) does not bring the face back. Deleted with its photo."""

    __tablename__ = "forgotten_faces"
    __table_args__ = (Index(None, "photo_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"))
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    forgotten_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

    def __repr__(self) -> str:
        return f"ForgottenFace(photo_id={self.photo_id!r}, box={self.box!r})"


class LibrarySetting(Base):
    """One setting of this library (``facenet_core.settings``), as JSON. The settings that change
    what a scan stores (the detector, the alignment) live here, so a library keeps its choices."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())

    def __repr__(self) -> str:
        return f"LibrarySetting({self.key!r}={self.value!r})"


class Edit(Base):
    """One edit of people by the user (naming, merging, moving faces...), kept so it can be undone.

    Its rows in :class:`EditPerson`, :class:`EditFace` and :class:`EditRejection` are the
    *before-image* of every row the edit changed: undoing the edit writes them back and deletes
    the entry. Only the newest entries are kept (``facenet_core.people.edits.HISTORY_DEPTH``).
    """

    __tablename__ = "edits"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    """What the edit was: ``"name"``, ``"merge"``, ``"move"``, ... (``people.edits``)."""
    summary: Mapped[str] = mapped_column(Text)
    """One line for a person, e.g. ``merged 2 people into "Ada" (#3)``: the Undo menu's label."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    face_rows: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Whole faces the edit created or deleted (faces drawn by hand), ``{"created": [...],
    "deleted": [...]}``, each as ``people.history.face_row`` writes it: undo deletes the created
    ones and writes the deleted ones back with their ids, labels and embeddings (the before-image
    rows cannot hold them: they go with their face)."""

    people: Mapped[list[EditPerson]] = relationship(
        back_populates="edit", cascade="all, delete-orphan", passive_deletes=True
    )
    faces: Mapped[list[EditFace]] = relationship(
        back_populates="edit", cascade="all, delete-orphan", passive_deletes=True
    )
    rejections: Mapped[list[EditRejection]] = relationship(
        back_populates="edit", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"Edit(id={self.id!r}, kind={self.kind!r}, summary={self.summary!r})"


class EditPerson(Base):
    """A person as it was before an edit changed it. ``existed`` False: the edit created it (undo
    deletes it). ``person_id`` has no foreign key on purpose: a merge deletes people, and undo
    brings them back with the same id."""

    __tablename__ = "edit_people"

    edit_id: Mapped[int] = mapped_column(
        ForeignKey("edits.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    existed: Mapped[bool]
    name: Mapped[str | None] = mapped_column(String)
    is_hidden: Mapped[bool] = mapped_column(default=False)
    cover_face_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime | None]

    edit: Mapped[Edit] = relationship(back_populates="people")


class EditFace(Base):
    """A face's person, assignment and ignored flag as they were before an edit changed them.
    Deleted with the face; when a changed photo is detected again, the entry follows its labels to
    the new face (``people.rules.carry_labels``)."""

    __tablename__ = "edit_faces"
    __table_args__ = (
        CheckConstraint(_in("assignment", Assignment), name="assignment"),
        Index(None, "face_id"),
    )

    edit_id: Mapped[int] = mapped_column(
        ForeignKey("edits.id", ondelete="CASCADE"), primary_key=True
    )
    face_id: Mapped[int] = mapped_column(
        ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int | None] = mapped_column(Integer)
    assignment: Mapped[str] = mapped_column(String(16))
    assignment_confidence: Mapped[float | None] = mapped_column(Float)
    is_ignored: Mapped[bool]

    edit: Mapped[Edit] = relationship(back_populates="faces")


class EditRejection(Base):
    """Whether a face was rejected from a person (``existed``) before an edit added or removed
    that rejection."""

    __tablename__ = "edit_rejections"
    __table_args__ = (Index(None, "face_id"),)

    edit_id: Mapped[int] = mapped_column(
        ForeignKey("edits.id", ondelete="CASCADE"), primary_key=True
    )
    face_id: Mapped[int] = mapped_column(
        ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    existed: Mapped[bool]

    edit: Mapped[Edit] = relationship(back_populates="rejections")


class EditPhotoPerson(Base):
    """A photo-level tag as it was before an edit added or removed it: its ``source``, NULL when
    the person was not on the photo. ``person_id`` has no foreign key, as in
    :class:`EditPerson`: undo of a merge brings deleted people back with their ids."""

    __tablename__ = "edit_photo_people"
    __table_args__ = (Index(None, "person_id"),)

    edit_id: Mapped[int] = mapped_column(
        ForeignKey("edits.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    photo_id: Mapped[int] = mapped_column(
        ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str | None] = mapped_column(String(32))


class JobState(Base):
    """A long job's bookmark between runs, e.g. ``recognize.last_face_id``: the newest face that
    recognition of new faces has dealt with."""

    __tablename__ = "job_state"

    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())

    def __repr__(self) -> str:
        return f"JobState({self.key!r}={self.value!r})"


# When a person is deleted, SQLite's ON DELETE SET NULL clears faces.person_id; this trigger
# keeps ``assignment`` truthful ("none" without a person). The same DDL is in migrations 0001 and
# 0003 (which rebuilds the faces table).
RESET_ASSIGNMENT_TRIGGER = """
CREATE TRIGGER trg_faces_unassigned_reset
AFTER UPDATE OF person_id ON faces
WHEN NEW.person_id IS NULL AND (NEW.assignment != 'none' OR NEW.assignment_confidence IS NOT NULL)
BEGIN
    UPDATE faces SET assignment = 'none', assignment_confidence = NULL WHERE id = NEW.id;
END
"""


def _count_change(sign: str, row: str) -> str:
    """SQL that adds (``sign`` ``+``) or removes (``-``) face ``row`` (NEW or OLD) from the
    counts of its person."""
    return f"""UPDATE people SET
        face_count = face_count {sign} ({row}.assignment IN ('auto', 'confirmed')),
        confirmed_count = confirmed_count {sign} ({row}.assignment = 'confirmed'),
        suggestion_count = suggestion_count {sign} ({row}.assignment = 'suggested')
    WHERE id = {row}.person_id;"""


COUNT_TRIGGERS = (
    f"""
CREATE TRIGGER trg_faces_count_insert
AFTER INSERT ON faces
WHEN NEW.person_id IS NOT NULL
BEGIN
    {_count_change("+", "NEW")}
END
""",
    f"""
CREATE TRIGGER trg_faces_count_delete
AFTER DELETE ON faces
WHEN OLD.person_id IS NOT NULL
BEGIN
    {_count_change("-", "OLD")}
END
""",
    f"""
CREATE TRIGGER trg_faces_count_update
AFTER UPDATE OF person_id, assignment ON faces
WHEN OLD.person_id IS NOT NEW.person_id OR OLD.assignment IS NOT NEW.assignment
BEGIN
    {_count_change("-", "OLD")}
    {_count_change("+", "NEW")}
END
""",
)
"""Keep ``people.face_count``, ``confirmed_count`` and ``suggestion_count`` equal to what the
faces say, whoever writes the faces. The same DDL is in migration 0003."""

for _trigger in (RESET_ASSIGNMENT_TRIGGER, *COUNT_TRIGGERS):
    event.listen(Face.__table__, "after_create", DDL(_trigger).execute_if(dialect="sqlite"))
