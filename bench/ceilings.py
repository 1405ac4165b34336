"""The framework ceilings of the headline: the least a request can cost on this stack.

bench/run.py serves each of these with granian's CLI, with the reference
server's --workers and --threads (granian --blocking-threads), no log:

    granian --interface wsgi --workers W --blocking-threads T --no-log ceilings:wsgi_hello
    granian --interface wsgi --workers W --blocking-threads T --no-log ceilings:bottle_hello

(bench/ on PYTHONPATH). Both answer {"status":"ok"}, the body of the
reference's GET /healthz; the Bottle app only on GET /healthz, like the
reference. The reference's /healthz over bottle_hello is what the reference
app's own machinery (security headers, guards, access log) costs on every
request; bottle_hello over wsgi_hello is what Bottle itself costs.
"""

from __future__ import annotations

import bottle

BODY = b'{"status":"ok"}'


def wsgi_hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))])
    return [BODY]


bottle_hello = bottle.Bottle()


@bottle_hello.get("/healthz")
def hello() -> dict[str, str]:
    return {"status": "ok"}
