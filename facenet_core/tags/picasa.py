"""Picasa: ``.picasa.ini`` in each folder, ``faces=rect64(HEX),CONTACT;...`` per photo.

``rect64`` is 16 hex digits (leading zeros may be dropped): left, top, right, bottom, each a
16-bit fraction of the image, read in the stored frame like the other formats. The contact id
names a person through the ``[Contacts2]`` section of the same file (``ID=Name;email;``) or a
``contacts.xml`` (``<contact id="..." name="..."/>``) copied from Picasa's application data into
the photo folder; ``ffffffffffffffff`` means "nobody".
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from facenet_core.tags.model import RawRegion, RegionsFound, checked_box, clean_name

INI_NAME = ".picasa.ini"
CONTACTS_NAME = "contacts.xml"
MAX_FILE_BYTES = 8 * 1024 * 1024
_NOBODY = "ffffffffffffffff"


def _sections(text: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1].strip(), {})
        elif current is not None and "=" in line:
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    return sections


@lru_cache(maxsize=64)
def _load(folder: Path, stamp: tuple[int, int, int, int]) -> dict[str, dict[str, str]]:
    del stamp  # part of the cache key only: a changed file is read again
    ini = folder / INI_NAME
    sections = _sections(ini.read_bytes().decode("utf-8", errors="replace"))
    contacts = sections.setdefault("Contacts2", {})
    xml = folder / CONTACTS_NAME
    if xml.is_file() and xml.stat().st_size <= MAX_FILE_BYTES:
        try:
            root = fromstring(xml.read_bytes(), forbid_dtd=True)
        except (DefusedXmlException, ValueError, SyntaxError):
            root = None
        for contact in root.iter("contact") if root is not None else []:
            ident, name = contact.get("id"), contact.get("name")
            if ident and name:
                contacts.setdefault(ident, name)
    return sections


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


def read_regions(photo: Path) -> tuple[list[RawRegion], list[str], int, str | None]:
    """The regions, names without a usable box, unusable regions dropped, and a reason."""
    folder = photo.parent
    ini = folder / INI_NAME
    ini_stamp = _stamp(ini)
    if ini_stamp == (0, 0):
        return [], [], 0, None
    if ini_stamp[1] > MAX_FILE_BYTES:
        return [], [], 0, f"{INI_NAME}: too large"
    try:
        sections = _load(folder, ini_stamp + _stamp(folder / CONTACTS_NAME))
    except OSError as exc:
        return [], [], 0, f"{INI_NAME}: {exc.strerror or exc}"
    faces = sections.get(photo.name, {}).get("faces", "")
    contacts = sections.get("Contacts2", {})
    found = RegionsFound()
    for entry in filter(None, (e.strip() for e in faces.split(";"))):
        rect, _, ident = entry.partition(",")
        ident = ident.strip()
        name = None
        if ident and ident != _NOBODY:
            name = clean_name(contacts.get(ident, "").split(";")[0])
        box = None
        if rect.startswith("rect64(") and rect.endswith(")"):
            digits = rect[7:-1].zfill(16)
            try:
                values = [int(digits[i : i + 4], 16) / 65535.0 for i in range(0, 16, 4)]
            except ValueError:
                values = []
            if len(values) == 4 and len(digits) == 16:
                box = checked_box((values[0], values[1], values[2], values[3]))
        found.add(box, name, "picasa")
    return found.regions, found.names, found.dropped, None
