"""GET /readyz: whether this instance should get traffic now (/healthz only says the process answers).

Ready means: the store answers a read within the request's deadline, no
schema upgrade is being applied to it, and its schema version is the one
this server was written for. A database that a newer server has upgraded is
a reason to stop routing here, not a detail: an older server reads a newer
schema as if its new columns did not exist (a server from before end
reasons would take a revoked session for a live one). A load balancer
that polls /readyz therefore drains old instances as soon as the upgrade
lands. The answer names versions and reasons, never anything of a user.
"""

from __future__ import annotations

import json
from typing import Any

import bottle

from .store import StoreError, is_store_url

PATH = "/readyz"


def install(app: bottle.Bottle, services: Any) -> None:
    """Add GET /readyz to `app`."""
    store = services.store
    if is_store_url(services.config.db):
        from .store.postgres import SCHEMA_VERSION
    else:
        from .store.sqlite import SCHEMA_VERSION

    def answer(status: int, body: dict[str, object]) -> str:
        bottle.response.status = status
        bottle.response.content_type = "application/json"
        if status == 503:
            bottle.response.set_header("Retry-After", "5")
        return json.dumps(body, separators=(",", ":"))

    @app.get(PATH)
    def readyz() -> str:
        """200 ready; 503 (Retry-After) while the store is unreachable, being upgraded, or of another schema version."""
        try:
            upgrading = store.upgrade_in_progress()
            version = store.schema_version()
        except StoreError as exc:
            return answer(503, {"error": f"The store is unavailable: {type(exc).__name__}."})
        if upgrading:
            return answer(503, {"error": "A schema upgrade is being applied to the store."})
        if version != SCHEMA_VERSION:
            return answer(503, {"error": f"The store has schema version {version}; this server is written for "
                                         f"{SCHEMA_VERSION}."})
        return answer(200, {"status": "ready", "schemaVersion": version})
