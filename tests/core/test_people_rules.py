"""THE rule of the people features, end to end on real faces: the user's word is law.

Scan real LFW photos, cluster, apply every kind of edit, then change the photos on disk (one
two re-saved at another JPEG quality, one moved), add new photos of known
people and of a stranger, scan again (which recognises the new faces), answer suggestions,
re-cluster, recognise again -- and find every edit intact. Undo still works at the end.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from facenet_core.library import scan
from facenet_core.people import edits, queries
from facenet_core.people.jobs import recluster, recognize_new
from facenet_core.settings import Settings
from facenet_core.store import Face, FaceRejection, Library, Person, Photo

pytestmark = pytest.mark.slow

PEOPLE = {
    "A": "Angelina_Jolie",  # named Alice; gets a cover, a wrong face, a "not her"
    "B": "Arnold_Schwarzenegger",  # named Bob after being split and merged back
    "C": "Bill_Gates",  # one of his faces is moved into Alice by the user
    "D": "Carlos_Menem",  # one face ignored
    "E": "Carlos_Moya",  # hidden
    "F": "David_Nalbandian",  # named, then renamed
    "G": "Dominique_de_Villepin",  # stays unnamed: new photos join his group
    "Z": "Jacques_Chirac",  # a stranger who turns up later
}
SETTINGS = Settings(device="cpu", flip=False, workers=1)


class World:
    """The photos folder, the library, and which photo shows whom."""

    def __init__(self, root: Path, lfw: Path) -> None:
        self.folder = root / "photos"
        self.folder.mkdir()
        self.lfw = lfw
        self.lib = Library.open(root / "library.db", create=True)
        self.who: dict[str, str] = {}  # current photo path -> identity letter

    def add(self, letter: str, numbers: Iterable[int]) -> None:
        name = PEOPLE[letter]
        for n in numbers:
            dest = self.folder / f"{letter}_{n}.jpg"
            shutil.copy(self.lfw / "images" / name / f"{name}_{n:04d}.jpg", dest)
            self.who[str(dest)] = letter

    def scan(self, settings: Settings = SETTINGS) -> None:
        result = scan(self.lib, [self.folder], settings)
        assert not result.cancelled and result.people is not None

    def main_face(self, path: str | Path) -> int:
        """The largest face of the photo (LFW photos have their person in the middle)."""
        with self.lib.session() as s:
            faces = s.scalars(select(Face).join(Photo).where(Photo.path == str(path))).all()
            assert faces, path
            return max(faces, key=lambda f: (f.x2 - f.x1) * (f.y2 - f.y1)).id

    def main_faces(self, letter: str) -> list[int]:
        return [self.main_face(p) for p, who in sorted(self.who.items()) if who == letter]

    def label(self, face_id: int) -> tuple[int | None, str, bool]:
        with self.lib.session() as s:
            f = s.get(Face, face_id)
            assert f is not None
            return f.person_id, f.assignment, f.is_ignored

    def person_of(self, letter: str) -> int:
        """The person holding most of the identity's main faces."""
        count = Counter(self.label(f)[0] for f in self.main_faces(letter))
        count.pop(None, None)
        assert count, f"{letter} has no person"
        return count.most_common(1)[0][0]

    def person(self, person_id: int) -> Person | None:
        with self.lib.session() as s:
            p = s.get(Person, person_id)
            if p is not None:
                s.expunge(p)
            return p

    def rejected(self, face_id: int, person_id: int) -> bool:
        with self.lib.session() as s:
            return s.get(FaceRejection, (face_id, person_id)) is not None


@pytest.fixture
def world(tmp_path: Path, lfw_mini: Path) -> Iterator[World]:
    w = World(tmp_path, lfw_mini)
    yield w
    w.lib.close()


def check_invariants(world: World) -> None:
    """What must hold after any automatic run, whatever the edits."""
    with world.lib.session() as s:
        faces = s.scalars(select(Face)).all()
        rejections = {(r.face_id, r.person_id) for r in s.scalars(select(FaceRejection))}
        per_photo: Counter[tuple[int, int]] = Counter()
        for f in faces:
            if f.person_id is not None:
                assert (f.id, f.person_id) not in rejections, f"face {f.id} in a rejecting person"
                assert not f.is_ignored
                if f.assignment != "confirmed":
                    per_photo[(f.photo_id, f.person_id)] += 1
        # (the user may put two faces of a photo together: confirmed faces are not counted)
        assert all(n <= 1 for n in per_photo.values()), "two automatic faces of a photo in one"
        for p in s.scalars(select(Person)):
            assert p.name or p.is_hidden or p.face_count or p.suggestion_count, "empty unnamed"


def test_every_edit_survives_rescans_reclustering_and_recognition(world: World) -> None:
    for letter in "ABCDEFG":
        world.add(letter, range(1, 6))
    world.scan()
    first = recluster(world.lib, SETTINGS)
    assert first.people >= 7 and first.named_people == 0
    check_invariants(world)

    # -- every kind of edit ------------------------------------------------------------------
    alice = world.person_of("A")
    edits.name_person(world.lib, alice, "Alice")
    assert all(
        world.label(f)[1] == "confirmed"
        for f in world.main_faces("A")
        if world.label(f)[0] == alice
    )

    bob_faces = [f for f in world.main_faces("B") if world.label(f)[0] == world.person_of("B")]
    bob = world.person_of("B")
    split = edits.move_faces(world.lib, bob_faces[:2], None)  # the user splits Bob's group ...
    assert split.person_id is not None
    edits.name_person(world.lib, bob, "Bob")
    merged = edits.merge_people(world.lib, [split.person_id, bob])  # ... and merges it back
    assert merged.person_id == bob  # into the named one
    assert world.person(split.person_id) is None

    wrong = world.main_faces("C")[0]  # the user insists this face of C is Alice
    edits.move_faces(world.lib, [wrong], alice)
    not_alice = world.main_faces("A")[1]  # and that this face of A is not Alice
    edits.remove_faces(world.lib, [not_alice], alice)

    ignored_photo = next(p for p, w in sorted(world.who.items()) if w == "D")
    edits.ignore_faces(world.lib, [world.main_face(ignored_photo)])

    hidden = world.person_of("E")
    edits.hide_person(world.lib, hidden)
    hidden_faces = {f for f in world.main_faces("E") if world.label(f)[0] == hidden}

    fred = world.person_of("F")
    edits.name_person(world.lib, fred, "Fred")
    edits.name_person(world.lib, fred, "Frederick")

    cover_photo = next(
        p
        for p, w in sorted(world.who.items())
        if w == "A" and world.label(world.main_face(p))[0] == alice
    )
    edits.set_cover(world.lib, alice, world.main_face(cover_photo))
    g_person = world.person_of("G")

    # -- the photos change on disk -------------------------------------------------------------
    Image.open(cover_photo).save(cover_photo, quality=60)  # re-saved: new bytes, same face
    moved_from = next(p for p, f in ((p, world.main_face(p)) for p in world.who) if f == not_alice)
    (world.folder / "archive").mkdir()
    moved_to = str(world.folder / "archive" / "renamed.jpg")
    shutil.move(moved_from, moved_to)
    world.who[moved_to] = world.who.pop(moved_from)
    edited = ignored_photo  # edited in place too: the ignored face is found again
    Image.open(edited).save(edited, quality=70)

    # -- new photos of known people and of a stranger; the scan recognises them ---------------
    world.add("A", range(6, 8))
    world.add("B", range(6, 8))
    world.add("G", range(6, 8))
    world.add("Z", (1, 2, 4))  # (photo 3 is far from his others: a separate question)
    world.scan(SETTINGS.replace(auto_confidence=1.0))  # known people: suggestions only
    check_invariants(world)
    new_alice = [world.main_face(world.folder / f"A_{n}.jpg") for n in (6, 7)]
    new_bob = [world.main_face(world.folder / f"B_{n}.jpg") for n in (6, 7)]
    assert [world.label(f)[:2] for f in new_alice] == [(alice, "suggested")] * 2
    assert [world.label(f)[:2] for f in new_bob] == [(bob, "suggested")] * 2
    for n in (6, 7):  # G's new photos join his unnamed group, which keeps its id
        assert world.label(world.main_face(world.folder / f"G_{n}.jpg"))[:2] == (g_person, "auto")
    strangers = {world.label(world.main_face(world.folder / f"Z_{n}.jpg"))[0] for n in (1, 2, 4)}
    assert len(strangers) == 1 and None not in strangers  # a new group for the stranger
    with world.lib.session() as s:
        assert queries.suggestion_count(s, alice) == 2

    edits.confirm_suggestions(world.lib, [new_alice[0]])  # "yes, that is Alice"
    edits.reject_suggestions(world.lib, [new_bob[1]])  # "no, that is not Bob"

    # -- the algorithm runs again, twice ------------------------------------------------------
    for _ in range(2):
        recluster(world.lib, SETTINGS)
        assert recognize_new(world.lib, SETTINGS).faces == 0  # nothing new
        check_invariants(world)

        # every edit intact
        a = world.person(alice)
        assert a is not None and a.name == "Alice"
        new_cover = world.main_face(cover_photo)  # the re-saved photo's face is a new row
        assert a.cover_face_id == new_cover and world.label(new_cover)[:2] == (alice, "confirmed")
        assert world.label(wrong)[:2] == (alice, "confirmed")  # the user's word, even if odd
        assert world.label(not_alice)[0] != alice and world.rejected(not_alice, alice)
        assert world.main_face(moved_to) == not_alice  # moved: same face row, labels kept
        assert world.label(new_alice[0])[:2] == (alice, "confirmed")
        assert world.label(new_alice[1])[:2] == (alice, "suggested")  # still a question
        b = world.person(bob)
        assert b is not None and b.name == "Bob"
        assert all(world.label(f)[:2] == (bob, "confirmed") for f in bob_faces)
        assert world.label(new_bob[0])[:2] == (bob, "suggested")
        assert world.label(new_bob[1])[0] != bob and world.rejected(new_bob[1], bob)
        assert world.label(world.main_face(edited)) == (None, "none", True)  # still ignored
        e = world.person(hidden)
        assert e is not None and e.is_hidden
        assert all(world.label(f)[:2] == (hidden, "confirmed") for f in hidden_faces)
        f = world.person(fred)
        assert f is not None and f.name == "Frederick"
        with world.lib.session() as s:
            named = sorted(p.name for p in queries.list_people(s, include_hidden=True) if p.name)
            assert named == ["Alice", "Bob", "Frederick"]
            assert hidden not in {p.id for p in queries.list_people(s)}

    # -- undo still reverts the newest edits exactly, after all that ---------------------------
    edits.undo(world.lib)  # the rejected suggestion is a suggestion again
    assert world.label(new_bob[1])[:2] == (bob, "suggested")
    assert not world.rejected(new_bob[1], bob)
    edits.undo(world.lib)  # the confirmed one too
    assert world.label(new_alice[0])[:2] == (alice, "suggested")
    undone = 0
    while True:  # and everything else, down to the first edit (the cover follows its face)
        try:
            edits.undo(world.lib)
        except edits.PeopleError:
            break
        undone += 1
    assert undone == 11  # name, split, name, merge, move, remove, ignore, hide, 2 names, cover
    a = world.person(alice)
    assert a is not None and a.name is None and a.cover_face_id is None
    assert world.person(bob) is not None and world.person(bob).name is None  # type: ignore[union-attr]
    assert not world.rejected(not_alice, alice)
    assert world.label(world.main_face(edited))[2] is False  # not ignored any more
