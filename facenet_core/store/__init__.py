"""The photo library's storage: SQLite through SQLAlchemy 2.0, schema kept by Alembic.

- :mod:`.models`: the tables and what each one means in the domain.
- :mod:`.db`: opening (and upgrading) a library file; engine settings; integrity check.
- :mod:`.queries`: small query helpers (active model version, status counts).
- :mod:`.chunks`: the one chunk size for long ``IN (...)`` lists.

- :mod:`.library`: :class:`Library`, the open library the CLI and the app use.

Nothing here holds a global engine or session, and nothing here imports torch.
"""

from facenet_core.paths import default_library_path
from facenet_core.store.db import (
    LibraryError,
    WriteInReadTransaction,
    alembic_config,
    create_library_engine,
    describe_sqlite_error,
    integrity_check,
    open_library,
    upgrade_library,
)
from facenet_core.store.library import Library, LibraryBusy
from facenet_core.store.models import (
    DRAWN_BY_USER,
    EMBEDDING_BYTES,
    Assignment,
    Base,
    Edit,
    EditFace,
    EditPerson,
    EditPhotoPerson,
    EditRejection,
    Embedding,
    Face,
    FaceRejection,
    FaceTagSource,
    FolderProblem,
    ForgottenFace,
    JobState,
    LandmarkScheme,
    LibrarySetting,
    MediaKind,
    ModelVersion,
    Person,
    Photo,
    PhotoPerson,
    PhotoStatus,
    Root,
    ScanJob,
    ScanStatus,
    pack_landmarks,
    unpack_landmarks,
)
from facenet_core.store.queries import (
    activate_model_version,
    ensure_active_model_version,
    get_active_model_version,
    next_face_id,
    photo_counts,
    status_counts,
)

__all__ = [
    "DRAWN_BY_USER",
    "EMBEDDING_BYTES",
    "Assignment",
    "Base",
    "Edit",
    "EditFace",
    "EditPerson",
    "EditPhotoPerson",
    "EditRejection",
    "Embedding",
    "Face",
    "FaceRejection",
    "FaceTagSource",
    "FolderProblem",
    "ForgottenFace",
    "JobState",
    "LandmarkScheme",
    "Library",
    "LibraryBusy",
    "LibraryError",
    "LibrarySetting",
    "MediaKind",
    "ModelVersion",
    "Person",
    "Photo",
    "PhotoPerson",
    "PhotoStatus",
    "Root",
    "ScanJob",
    "ScanStatus",
    "WriteInReadTransaction",
    "activate_model_version",
    "alembic_config",
    "create_library_engine",
    "default_library_path",
    "describe_sqlite_error",
    "ensure_active_model_version",
    "get_active_model_version",
    "integrity_check",
    "next_face_id",
    "open_library",
    "pack_landmarks",
    "photo_counts",
    "status_counts",
    "unpack_landmarks",
    "upgrade_library",
]
