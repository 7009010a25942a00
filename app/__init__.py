"""FaceNet Photos desktop front end (PySide6). Owns no ML and no SQL: it calls ``facenet_core``."""
