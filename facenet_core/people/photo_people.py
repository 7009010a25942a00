"""People on a photo without a face box: a back, a blurred face, a face no detector found.

A photo-level tag (:class:`~facenet_core.store.PhotoPerson`) makes the photo one of the person's
photos (:func:`~facenet_core.people.queries.photos_with_people`), and export writes the person as
``PersonInImage`` of that photo. The user adds and removes them with :func:`tag_photo` and
:func:`untag_photo`; a face-tag import adds those of the names it cannot put on one face
(:func:`tag_photos`). All three are ordinary edits: one transaction, a history entry, undoable.
Merging people moves the tags to the merged person, deleting a person or a photo deletes its
tags (foreign keys), forgetting a person forgets them with the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from facenet_core.people.edits import _clean_name, _Edit, _label, _person
from facenet_core.people.errors import PeopleError
from facenet_core.people.history import Change
from facenet_core.people.sidecar_sync import keeps_sidecars
from facenet_core.store import Library, Person, Photo, PhotoPerson

USER = "user"
""":attr:`PhotoPerson.source` of a tag the user added (an import writes ``tag:<format>``)."""


@dataclass(frozen=True, slots=True)
class PhotoPersonInfo:
    """A person on a photo without a face box, as the viewer or a list shows it."""

    photo_id: int
    person_id: int
    name: str | None
    source: str


def _photo(session: Session, photo_id: int) -> Photo:
    photo = session.get(Photo, photo_id)
    if photo is None:
        raise PeopleError(f"there is no photo {photo_id}")
    return photo


def _photos_word(n: int) -> str:
    return f"{n} photo" if n == 1 else f"{n} photos"


@keeps_sidecars
def tag_photos(
    library: Library,
    person_id: int | None,
    photo_ids: Iterable[int],
    *,
    source: str = USER,
    name: str | None = None,
) -> Change:
    """Put the person on these photos without a face box (photos already tagged stay as they
    are), in one edit. ``person_id`` None: a new person called ``name`` (an imported name
    nobody has yet)."""
    with library.write() as session:
        ids = list(dict.fromkeys(int(i) for i in photo_ids))
        if not ids:
            raise PeopleError("no photos given")
        for photo_id in ids:
            _photo(session, photo_id)
        if person_id is None:
            if name is None:
                raise PeopleError("a new person needs a name")
            rec = _Edit(session, "tag-photo")
            made = Person(name=_clean_name(name))
            session.add(made)
            session.flush()
            rec.created(made.id)
            person_id = made.id
        else:
            _person(session, person_id)
            rec = _Edit(session, "tag-photo")
        person = _person(session, person_id)
        have = set(
            session.scalars(
                select(PhotoPerson.photo_id).where(
                    PhotoPerson.person_id == person_id, PhotoPerson.photo_id.in_(ids)
                )
            )
        )
        new = [i for i in ids if i not in have]
        for photo_id in new:
            rec.photo_person(photo_id, person_id)
        if new:
            session.execute(
                insert(PhotoPerson),
                [{"photo_id": i, "person_id": person_id, "source": source} for i in new],
            )
        summary = f"put {_label(person.name, person_id)} on {_photos_word(len(new))}"
        return rec.finish(summary, person_id)


def tag_photo(library: Library, photo_id: int, person_id: int, *, source: str = USER) -> Change:
    """Put the person on the photo without a face box (a back, a face no detector found)."""
    return tag_photos(library, person_id, [photo_id], source=source)


@keeps_sidecars
def untag_photo(library: Library, photo_id: int, person_id: int) -> Change:
    """Take the person's photo-level tag off the photo (their faces in it are left alone:
    remove those with "not this person"). PeopleError when there is no such tag."""
    with library.write() as session:
        person = _person(session, person_id)
        _photo(session, photo_id)
        where = (PhotoPerson.photo_id == photo_id, PhotoPerson.person_id == person_id)
        if session.scalar(select(PhotoPerson.source).where(*where)) is None:
            raise PeopleError(
                f"{_label(person.name, person_id)} is not tagged on photo {photo_id} without a face"
            )
        rec = _Edit(session, "untag-photo")
        rec.photo_person(photo_id, person_id)
        session.execute(delete(PhotoPerson).where(*where))
        rec.drop_if_empty([person_id])
        summary = f"took {_label(person.name, person_id)} off photo {photo_id}"
        return rec.finish(summary, person_id)


def photo_people(session: Session, photo_id: int) -> list[PhotoPersonInfo]:
    """The people on the photo without a face box, by name."""
    rows = session.execute(
        select(PhotoPerson.person_id, Person.name, PhotoPerson.source)
        .join(Person, Person.id == PhotoPerson.person_id)
        .where(PhotoPerson.photo_id == photo_id)
        .order_by(Person.name, Person.id)
    ).all()
    return [PhotoPersonInfo(photo_id, pid, name, source) for pid, name, source in rows]


def tagged_photos(session: Session, person_id: int) -> list[int]:
    """The ids of the photos the person is on without a face box."""
    return list(
        session.scalars(
            select(PhotoPerson.photo_id)
            .where(PhotoPerson.person_id == person_id)
            .order_by(PhotoPerson.photo_id)
        )
    )
