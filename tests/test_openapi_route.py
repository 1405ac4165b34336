"""GET /openapi.json: the reference serves the contract's OpenAPI description, the same as docs/openapi.yaml."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_openapi_json_is_docs_openapi_yaml(client_for):
    response = client_for().request("GET", "/openapi.json")
    assert response.status == 200
    assert response.header("Content-Type").startswith("application/json")
    assert response.json == yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text(encoding="utf-8"))


def test_openapi_json_is_the_same_signed_in_or_out(client_for, logged_in):
    signed_out = client_for().request("GET", "/openapi.json")
    signed_in = logged_in().request("GET", "/openapi.json")
    assert signed_in.status == signed_out.status == 200
    assert signed_in.body == signed_out.body
