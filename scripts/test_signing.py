"""Tests of scripts/standins/signing.py against fixed vectors (Svix's documented example; a Stripe signature made
by the stand-ins' earlier, separate implementation), so that what signs every delivery is checked independently.

    .venv/bin/python -m unittest scripts/test_signing.py
"""

from __future__ import annotations

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from standins import signing  # noqa: E402

SVIX_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # Svix's documentation example
SVIX_ID, SVIX_TIMESTAMP, SVIX_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
SVIX_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
STRIPE_SECRET, STRIPE_TIMESTAMP, STRIPE_BODY = "whsec_test_secret", 1700000000, b'{"id":"evt_1"}'
STRIPE_HEADER = "t=1700000000,v1=248a374f50f943a28b0f6ab50faf9a7e7e29b710fa26df9fb1618b9bf8ea9c9a"


class Stripe(unittest.TestCase):
    def test_signs_the_timestamp_and_body_with_the_whole_secret(self):
        self.assertEqual(signing.stripe_signature(STRIPE_SECRET, STRIPE_TIMESTAMP, STRIPE_BODY), STRIPE_HEADER)

    def test_verifies_its_own_and_refuses_changes(self):
        at = STRIPE_TIMESTAMP + 10
        self.assertTrue(signing.verify_stripe_signature(STRIPE_HEADER, STRIPE_BODY, STRIPE_SECRET, now=at))
        self.assertTrue(signing.verify_stripe_signature(STRIPE_HEADER + ",v1=00", STRIPE_BODY, STRIPE_SECRET, now=at))
        self.assertFalse(signing.verify_stripe_signature(STRIPE_HEADER, STRIPE_BODY + b" ", STRIPE_SECRET, now=at))
        self.assertFalse(signing.verify_stripe_signature(STRIPE_HEADER, STRIPE_BODY, "whsec_other", now=at))
        self.assertFalse(signing.verify_stripe_signature(STRIPE_HEADER.replace("t=1700000000", "t=1700000001"),
                                                         STRIPE_BODY, STRIPE_SECRET, now=at))
        for header in (None, "", "v1=abc", "t=x,v1=abc", "t=1700000000"):
            self.assertFalse(signing.verify_stripe_signature(header, STRIPE_BODY, STRIPE_SECRET, now=at), header)

    def test_refuses_an_old_timestamp_unless_told_not_to_check(self):
        late = STRIPE_TIMESTAMP + signing.DEFAULT_TOLERANCE_S + 1
        self.assertFalse(signing.verify_stripe_signature(STRIPE_HEADER, STRIPE_BODY, STRIPE_SECRET, now=late))
        self.assertTrue(signing.verify_stripe_signature(STRIPE_HEADER, STRIPE_BODY, STRIPE_SECRET, tolerance_s=None))


class Svix(unittest.TestCase):
    def test_matches_svix_documented_example(self):
        self.assertEqual(signing.svix_signature(SVIX_SECRET, SVIX_ID, SVIX_TIMESTAMP, SVIX_BODY), SVIX_SIGNATURE)
        self.assertEqual(signing.svix_headers(SVIX_SECRET, SVIX_ID, SVIX_TIMESTAMP, SVIX_BODY),
                         {"svix-id": SVIX_ID, "svix-timestamp": str(SVIX_TIMESTAMP), "svix-signature": SVIX_SIGNATURE})

    def test_verifies_any_of_several_signatures_and_refuses_changes(self):
        headers = signing.svix_headers(SVIX_SECRET, SVIX_ID, SVIX_TIMESTAMP, SVIX_BODY)
        at = SVIX_TIMESTAMP + 10
        self.assertTrue(signing.verify_svix_signature(headers, SVIX_BODY, SVIX_SECRET, now=at))
        several = {**headers, "svix-signature": "v1,bm9wZQ== " + SVIX_SIGNATURE}
        self.assertTrue(signing.verify_svix_signature(several, SVIX_BODY, SVIX_SECRET, now=at))
        self.assertFalse(signing.verify_svix_signature(headers, SVIX_BODY + b" ", SVIX_SECRET, now=at))
        self.assertFalse(signing.verify_svix_signature({**headers, "svix-id": "msg_other"}, SVIX_BODY, SVIX_SECRET,
                                                       now=at))
        self.assertFalse(signing.verify_svix_signature({**headers, "svix-timestamp": "x"}, SVIX_BODY, SVIX_SECRET,
                                                       now=at))
        self.assertFalse(signing.verify_svix_signature(headers, SVIX_BODY, SVIX_SECRET,
                                                       now=SVIX_TIMESTAMP + signing.DEFAULT_TOLERANCE_S + 1))


if __name__ == "__main__":
    unittest.main()
