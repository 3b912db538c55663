"""A local fake of Clerk's Backend API and sign-in, for tests and `make dev` only (never point production at it).

    python3 scripts/fake_clerk.py --port 0 [--latency-ms N] [--webhook-url URL --webhook-secret whsec_...]

Binds 127.0.0.1 (port 0 = any free port) and prints `listening on <port>` as its first stdout line. The code
under test talks to it exactly as to https://api.clerk.com (CLERK_API_BASE): JSON bodies,
`Authorization: Bearer sk_test_...`, user objects shaped like Clerk's, and Clerk's error shape
`{"errors": [{"message", "long_message", "code", "meta"}], "clerk_trace_id"}`.

Covered: GET /v1/users (`email_address`, repeatable: the users with one of those addresses, newest first),
GET /v1/users/{id}, PATCH /v1/users/{id}/metadata (deep merge of public_metadata,
private_metadata and unsafe_metadata: nested objects merge recursively, a key set to null is removed,
anything else - arrays included - replaces). Unknown users answer 404 `resource_not_found`, as Clerk does:
users exist only once created through the control API. State lives in memory behind one lock.

Sign-in, as a Clerk instance's Frontend API would do it for the demo app (no Clerk account needed):
  GET /.well-known/jwks.json, GET /v1/jwks   the RSA key made at start, as Clerk publishes it (kid, RS256, sig)
  GET /sign-in?redirect_url=URL             a plain form: email, first and last name
  POST /sign-in                             finds the user with that email, or creates one and sends Clerk's
                                            `user.created` webhook (Svix-signed) to --webhook-url in the
                                            background, retrying with backoff; then 303 to
                                            `URL#__session=<session token>`
A session token is shaped like Clerk's: RS256, header `kid`; claims `sub`, `iss` (this fake's base URL, the
CLERK_ISSUER to give billing-api), `azp` (the origin of the redirect URL), `sid`, `iat`, `nbf` and `exp` (24 h,
for the demo; Clerk's live 60 s and are refreshed by its SDK).

Control API for tests (no auth, JSON): POST /__fake/users, GET /__fake/users/{id}, POST /__fake/sessions,
POST /__fake/fail, GET /__fake/requests, POST /__fake/reset. See control.py.

The code (scripts/standins/clerk/): state.py (ids, errors, STATE behind LOCK, users' shape), settings.py (the
command line's settings), api.py (the Backend API), control.py (the control API), signin.py (keys, session
tokens, the sign-in page, the `user.created` webhook), server.py (the HTTP handler and the command line).
"""
