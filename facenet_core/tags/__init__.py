"""Face tags other software wrote into photos (read) and the sidecars we write (write).

A core package below ``store`` and ``people``: it depends only on the leaves (``types``), reads
files, and hands plain values upward; matching tags to detected faces and turning names into
people happen in the layers that own faces and people.
"""

from facenet_core.tags.model import PhotoTags, TagRegion
from facenet_core.tags.read import read_face_tags

__all__ = ["PhotoTags", "TagRegion", "read_face_tags"]
