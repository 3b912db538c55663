"""Local stand-ins of the services Entitle talks to, for tests and `make dev` only (never point production at them).

    stripe/     the Stripe API, its hosted pages, events and webhook delivery, test clock (scripts/fake_stripe.py)
    clerk/      Clerk's Backend API, sign-in and its `user.created` webhook (scripts/fake_clerk.py)
    http.py     the HTTP server and request handler both stand-ins are built on
    signing.py  Stripe's and Svix's (Clerk's) webhook signatures, made and checked: every script signs with it

Standard library only (Clerk's sign-in needs `cryptography` for its RS256 key, imported when first used).
"""
