"""GET /openapi.json: the contract's OpenAPI description (docs/openapi.yaml), for client generators and fuzzers.

The server ships a JSON copy of the description (impl/openapi.json, generated
from docs/openapi.yaml; a test keeps them equal), so an installed server
needs neither the repository's docs/ nor a YAML parser. It is read once, at
start-up, and served as it is: the same bytes for every request, no cookie
read, nothing of anyone's in it.
"""

from __future__ import annotations

from pathlib import Path

import bottle

DESCRIPTION = Path(__file__).resolve().parent / "openapi.json"
PATH = "/openapi.json"


def install(app: bottle.Bottle) -> None:
    """Add GET /openapi.json to `app`."""
    document = DESCRIPTION.read_bytes()

    @app.get(PATH)
    def openapi_description() -> bytes:
        """200 the OpenAPI 3.1 description of the API, as JSON."""
        bottle.response.content_type = "application/json"
        return document
