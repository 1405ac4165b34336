"""The Sessions page (issues 4 and 11): HTML shell, styles and script over the same JSON API.

Theory of operation:
1. The server renders one shell, the same for every visitor: it reads no
   cookie and puts no user data (email, device name, IP) into HTML. So there
   is nothing user-controlled to escape on the server, and a session is
   never authenticated by a second code path beside the API's.
2. The script (static/sessions.js) asks the JSON API what to show (GET /me,
   GET /me/sessions, GET /me/activity) and acts through it (POST /signup,
   /login, /logout, /me/password, DELETE and PATCH /me/sessions/{id},
   POST /me/sessions/revoke-all), same-origin, so the page obeys exactly the
   rules every other client does, CSRF guard included. It writes data into
   the page with textContent only: device names come from User-Agents and
   session names from their owners (EXT-RENAME says "shown as text").
   A 401's `reason` (EXT-REASON) becomes the sentence the page shows above
   its sign-in form; a password change's new cookie comes in the API's own
   answer, so the page goes on without a step of its own.
3. The page forbids inline script and style, and framing, by its headers:
   a revoke button must not be clickjackable, and an injected tag could not
   run even if one slipped past rule 2.
4. Static files are the ones shipped in impl/static, looked up by bare name
   in a set made at start-up; any other name is the app's JSON 404.
"""

from __future__ import annotations

from pathlib import Path

import bottle

HERE = Path(__file__).resolve().parent
VIEWS_DIR = HERE / "views"
STATIC_DIR = HERE / "static"
# A constant, not a fresh list per call: bottle.template caches compiled
# templates by id() of the lookup path.
TEMPLATE_LOOKUP = [str(VIEWS_DIR)]

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # For browsers older than frame-ancestors; both say "never in a frame".
    "X-Frame-Options": "DENY",
}
PAGE_PATHS = ("/", "/account/sessions")


def static_names(directory: Path = STATIC_DIR) -> frozenset[str]:
    """Return the names of the files that /static/ may serve."""
    return frozenset(p.name for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))


def install(app: bottle.Bottle) -> None:
    """Add the Sessions page and its static files to `app`."""
    servable = static_names()

    def sessions_page() -> str:
        """200 the page's HTML shell; the script fills it in from the JSON API."""
        for name, value in PAGE_HEADERS.items():
            bottle.response.set_header(name, value)
        bottle.response.content_type = "text/html; charset=UTF-8"
        return bottle.template("sessions", template_lookup=TEMPLATE_LOOKUP)

    for path in PAGE_PATHS:
        app.get(path, callback=sessions_page)

    @app.get("/static/<name>")
    def static(name: str) -> bottle.HTTPResponse:
        """200 a file of impl/static; 404 (JSON, like every error) for any other name."""
        if name not in servable:
            bottle.abort(404)
        # static_file still confines itself to the root: a second fence.
        return bottle.static_file(name, root=str(STATIC_DIR), headers=dict(PAGE_HEADERS))
