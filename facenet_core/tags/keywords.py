"""Names without boxes: ``PersonInImage`` and the "People" branch of keyword hierarchies.

digiKam writes ``People/NAME`` in ``digiKam:TagsList``, Lightroom ``People|NAME`` in
``lr:hierarchicalSubject``, Windows ``People/NAME`` in ``MicrosoftPhoto:LastKeywordXMP``. A flat
``dc:subject`` keyword cannot tell a person from a place, so it counts only when it spells the
hierarchy itself (``People/NAME`` or ``People|NAME``). The person is the last level
(``People/Family/Ann`` is Ann).
"""

from __future__ import annotations

from facenet_core.tags.iptc import IPTC_EXT
from facenet_core.tags.model import clean_name
from facenet_core.tags.rdf import Props, items, text

DC = "http://purl.org/dc/elements/1.1/"
DIGIKAM = "http://www.digikam.org/ns/1.0/"
LIGHTROOM = "http://ns.adobe.com/lightroom/1.0/"
MS_PHOTO = "http://ns.microsoft.com/photo/1.0/"
MEDIAPRO = "http://ns.iview-multimedia.com/mediapro/1.0/"
PEOPLE = "People"

_HIERARCHIES = (
    (f"{{{DIGIKAM}}}TagsList", "/"),
    (f"{{{LIGHTROOM}}}hierarchicalSubject", "|"),
    (f"{{{MS_PHOTO}}}LastKeywordXMP", "/"),
    (f"{{{MS_PHOTO.rstrip('/')}}}LastKeywordXMP", "/"),
    (f"{{{MEDIAPRO}}}CatalogSets", "|"),
    (f"{{{DC}}}subject", "/"),
    (f"{{{DC}}}subject", "|"),
)


def person_from_keyword(keyword: str, separator: str) -> str | None:
    """The person a hierarchical keyword names, or None when it is not under "People"."""
    parts = [p.strip() for p in keyword.split(separator)]
    if len(parts) < 2 or parts[0].casefold() != PEOPLE.casefold():
        return None
    return clean_name(parts[-1])


def read_names(props: Props) -> list[str]:
    """Every person named by ``PersonInImage`` or a "People" keyword, in reading order."""
    names: list[str] = []
    for value in items(props.get(f"{{{IPTC_EXT}}}PersonInImage")):
        name = clean_name(text(value))
        if name:
            names.append(name)
    for key, separator in _HIERARCHIES:
        for value in items(props.get(key)):
            raw = text(value)
            name = person_from_keyword(raw, separator) if raw else None
            if name:
                names.append(name)
    return names
