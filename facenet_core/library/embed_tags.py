"""Write the people of a photo into the photo itself, through ExifTool (``export-tags --embed``).

Originals are never modified otherwise. Writing into image files safely (JPEG segments,
ExtendedXMP, TIFF IFDs, PNG chunks, HEIC boxes) is ExifTool's trade, so we do not do it
ourselves: when ``exiftool`` is not on the PATH, ``--embed`` refuses before anything is written
(:class:`ExifToolMissing`, with how to install it).

What is written is what a sidecar gets: the photo's embedded XMP packet is read and merged by
the same code as a sidecar (:func:`facenet_core.tags.write.merge`: only the people parts
replaced, everything else kept), and ExifTool writes the merged packet back as the file's XMP
(``-XMP<=packet``). ExifTool keeps the file as it was as ``IMG.jpg_original`` beside it (once:
it never overwrites that copy), so an embed can be taken back by hand. A photo whose XMP spans
ExtendedXMP segments is left as it is (its main packet alone is not the whole of it), with a
reason; so is one whose XMP cannot be parsed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from facenet_core.errors import UserError
from facenet_core.tags.rdf import XmpError
from facenet_core.tags.write import FaceTag, merge
from facenet_core.tags.xmp_extract import embedded_packets

EXIFTOOL_TIMEOUT_S = 120
INSTALL_HINT = (
    "install ExifTool (Debian and Ubuntu: apt install libimage-exiftool-perl; macOS: brew "
    "install exiftool; Windows: exiftool.org), or leave out --embed to write sidecars only"
)


class ExifToolMissing(UserError):
    """``--embed`` needs ExifTool, and it is not installed: nothing was written."""

    hint = INSTALL_HINT


def find_exiftool() -> str | None:
    """The ``exiftool`` program on the PATH, or None."""
    return shutil.which("exiftool")


@dataclass(frozen=True, slots=True)
class EmbedResult:
    """What happened to one photo: ``written`` into the file, or ``reason`` why not."""

    photo: Path
    written: bool
    reason: str | None = None


def embed_people(
    photo: Path,
    image_size: tuple[int, int],
    orientation: int,
    faces: Sequence[FaceTag],
    people_without_box: Sequence[str],
    exiftool: str,
) -> EmbedResult:
    """Write the people into ``photo``'s own XMP through ExifTool; never raises for a file
    problem (the reason is returned)."""
    try:
        packets = embedded_packets(photo)
    except (OSError, XmpError) as exc:
        return EmbedResult(photo, False, f"not embedded: its metadata cannot be read ({exc})")
    if len(packets) > 1:
        return EmbedResult(photo, False, "not embedded: its XMP spans ExtendedXMP segments")
    try:
        new, _, _ = merge(
            packets[0] if packets else None, faces, people_without_box, image_size, orientation
        )
    except XmpError as exc:
        return EmbedResult(photo, False, f"not embedded: its XMP cannot be parsed ({exc})")
    fd, tmp = tempfile.mkstemp(prefix="facenet-embed-", suffix=".xmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(new)
        done = subprocess.run(
            [exiftool, "-q", "-q", f"-XMP<={tmp}", str(photo)],
            capture_output=True,
            text=True,
            check=False,
            timeout=EXIFTOOL_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return EmbedResult(photo, False, f"not embedded: ExifTool failed ({exc})")
    finally:
        Path(tmp).unlink(missing_ok=True)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        why = lines[-1] if lines else f"exit status {done.returncode}"
        return EmbedResult(photo, False, f"not embedded: ExifTool says {why}")
    return EmbedResult(photo, True)
