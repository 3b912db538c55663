#!/usr/bin/env python3
"""A local fake of the Stripe API, for tests only (never point production at it).

    python3 scripts/fake_stripe.py --port 0 [--latency-ms N] [--hosted-pages] [--retry-scale F] [--chaos]
                                   [--max-attempts N] [--retry-days 3,5,7] [--dunning-final canceled|unpaid]

Binds 127.0.0.1 (port 0 = any free port) and prints `listening on <port>` as its first stdout line. The fake
itself is the package scripts/standins/stripe/, whose docstring says what it covers and how.
"""

import sys

from standins.stripe.server import main

if __name__ == "__main__":
    sys.exit(main())
