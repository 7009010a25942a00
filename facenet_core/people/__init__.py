"""People: who each face belongs to, and the rules that keep the user's word.

- :mod:`.cluster`, :mod:`.knn`, :mod:`.recognize`: the engine (pure numpy + faiss).
- :mod:`.jobs`: the automatic runs on a library: :func:`~.jobs.recluster` and
  :func:`~.recognition.recognize_new` (:mod:`.recognition`, run by every scan); they read and
  write through :mod:`.labels`, and re-clustering decides in :func:`~.plan.plan_recluster`
  (plain values in and out, no database).
- :mod:`.edits`: the user's edits, each one transaction, each undoable; :mod:`.history`: the
  undo history they write (undo, redo).
- :mod:`.photo_people`: a person on a photo without a face box (edits and reads); their undo
  rows in :mod:`.photo_rows`.
- :mod:`.exportable`: what may be written to photos' metadata (the privacy rules), and
  :mod:`.sidecar_sync`: the sidecars written again after each edit when the library keeps them
  in sync.
- :mod:`.queries`: what the people views show, as plain frozen dataclasses.
- :mod:`.rules`: labels carried to the new faces of a changed photo.

Works on numpy arrays and the store; never imports torch.
"""
