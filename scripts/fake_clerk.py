#!/usr/bin/env python3
"""A local fake of Clerk's Backend API and sign-in, for tests and `make dev` only (never point production at it).

    python3 scripts/fake_clerk.py --port 0 [--latency-ms N] [--webhook-url URL --webhook-secret whsec_...]

Binds 127.0.0.1 (port 0 = any free port) and prints `listening on <port>` as its first stdout line. The fake
itself is the package scripts/standins/clerk/, whose docstring says what it covers and how.
"""

import sys

from standins.clerk.server import main

if __name__ == "__main__":
    sys.exit(main())
