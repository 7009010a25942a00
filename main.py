"""Start the FaceNet Photos desktop app: ``python main.py [--library FILE]``."""

import sys

from app.main import main

if __name__ == "__main__":
    sys.exit(main())
