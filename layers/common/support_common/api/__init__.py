"""The intake function's package (functions/intake): the dashboard HTTP API.

`handler` holds the entry point and wiring; `tickets` and `contacts` the routes (Powertools
Routers); `models` what the API accepts and returns; `errors` the status of each domain error;
`auth` who is calling; `idempotency` the once-only create behind `Idempotency-Key`.
"""
