"""``python -m facenet_core``: the headless command line."""

import sys

from facenet_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
