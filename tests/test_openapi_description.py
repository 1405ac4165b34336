"""docs/openapi.yaml: a valid OpenAPI 3.1 document that covers the contract, and its shipped copies agree with it.

The suite and the server each ship a JSON copy (conformance/openapi.json,
impl/openapi.json), so that neither needs the repository's docs/ nor a YAML
parser once installed. After editing docs/openapi.yaml, regenerate them:

    python -m tests.test_openapi_description
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "docs" / "openapi.yaml"
CONTRACT = ROOT / "docs" / "sessions-api.md"
COPIES = [ROOT / "conformance" / "openapi.json", ROOT / "impl" / "openapi.json"]
REGENERATE = "python -m tests.test_openapi_description"

# Every endpoint of the contract, with every status it names for it. The
# statuses every route may answer (400 malformed, 413, 431, 503) come on top.
CONTRACT_ENDPOINTS = {
    ("post", "/signup"): {"201", "400", "409", "413"},
    ("post", "/login"): {"200", "400", "401", "429"},
    ("post", "/logout"): {"200", "403"},
    ("get", "/me"): {"200", "401"},
    ("get", "/me/sessions"): {"200", "401"},
    ("delete", "/me/sessions/{id}"): {"200", "400", "401", "403", "404"},
    ("post", "/me/sessions/revoke-all"): {"200", "401", "403"},
    ("patch", "/me/sessions/{id}"): {"200", "400", "401", "403", "404"},
    ("post", "/me/password"): {"200", "400", "401", "403", "429"},
    ("get", "/me/activity"): {"200", "400", "401"},
}
EVERY_ROUTE = {"413", "431", "503"}


def load_source() -> dict:
    return yaml.safe_load(SOURCE.read_text(encoding="utf-8"))


def render(document: dict) -> str:
    """Return the JSON text of a shipped copy."""
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def write_copies() -> None:
    """Regenerate the shipped JSON copies from docs/openapi.yaml."""
    text = render(load_source())
    for copy in COPIES:
        copy.write_text(text, encoding="utf-8")
        print(f"wrote {copy.relative_to(ROOT)}")


@pytest.fixture(scope="module")
def document() -> dict:
    return load_source()


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield method, path, operation


def test_description_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1.")
    validate(document)


@pytest.mark.parametrize("copy", COPIES, ids=lambda path: str(path.relative_to(ROOT)))
def test_shipped_copy_is_the_description(copy):
    assert copy.exists(), f"{copy.relative_to(ROOT)} is missing: run {REGENERATE}"
    assert copy.read_text(encoding="utf-8") == render(load_source()), (
        f"{copy.relative_to(ROOT)} is not docs/openapi.yaml: run {REGENERATE}"
    )


def test_every_endpoint_and_status_of_the_contract_is_described(document):
    described = {(method, path): set(operation["responses"]) for method, path, operation in _operations(document)}
    assert set(described) == set(CONTRACT_ENDPOINTS)
    missing = {
        f"{method.upper()} {path}": sorted((statuses | EVERY_ROUTE) - described[(method, path)])
        for (method, path), statuses in CONTRACT_ENDPOINTS.items()
        if (statuses | EVERY_ROUTE) - described[(method, path)]
    }
    assert missing == {}


def test_every_contract_path_appears_in_the_contract_text(document):
    contract = CONTRACT.read_text(encoding="utf-8")
    for method, path, _ in _operations(document):
        endpoint = f"`{method.upper()} {path}`"
        assert endpoint in contract, f"{endpoint} is not an endpoint of the contract"


def test_operations_are_tagged_by_level_and_name_their_rules(document):
    contract = CONTRACT.read_text(encoding="utf-8")
    contract_rules = set(re.findall(r"\b((?:CORE|HARD|EXT)-[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*)\b", contract))
    for method, path, operation in _operations(document):
        label = f"{method.upper()} {path}"
        level = "extensions" if any(rule.startswith("EXT-") for rule in operation["x-rules"]) else "core"
        assert level in operation["tags"], f"{label} lacks its level tag {level!r}"
        assert set(operation["tags"]) <= {"core", "hardening", "extensions"}
        assert not {"core", "extensions"} <= set(operation["tags"]), f"{label} is tagged with two levels"
        for rule in operation["x-rules"]:
            assert rule in contract_rules, f"{label} names {rule}, which the contract does not define"
            assert rule in operation["description"], f"{label}'s description does not name its rule {rule}"
        named = set(re.findall(r"\b(?:CORE|HARD|EXT)-[A-Z0-9-]*[A-Z0-9]\b", operation["description"]))
        assert named and named <= contract_rules, f"{label} names unknown rules {named - contract_rules}"
        hardening = any(rule.startswith("HARD-") for rule in named)
        assert hardening == ("hardening" in operation["tags"]), f"{label}: `hardening` tag and HARD rules disagree"


def test_extension_operations_are_exactly_the_ext_rules_endpoints(document):
    tagged = {f"{method.upper()} {path}" for method, path, op in _operations(document) if "extensions" in op["tags"]}
    assert tagged == {"PATCH /me/sessions/{id}", "POST /me/password", "GET /me/activity"}


def test_core_shapes_leave_extension_fields_optional(document):
    schemas = document["components"]["schemas"]
    assert {"name", "newDevice"} <= set(schemas["Session"]["properties"])
    assert not {"name", "newDevice"} & set(schemas["Session"]["required"])
    assert "reason" not in schemas["Unauthenticated"]["required"]
    assert schemas["SessionWithExtensions"]["allOf"][1]["required"] == ["name", "newDevice"]


def test_every_wheel_that_ships_the_suite_or_the_server_ships_its_copy(tmp_path):
    # Installed on its own, the suite reads conformance/openapi.json and the
    # server impl/openapi.json; a wheel without them would fail at the first
    # request. Every distribution in the repository is built, however the
    # packages are split between them.
    projects = [p.parent for p in ROOT.glob("**/pyproject.toml") if not {".venv", "node_modules"} & set(p.parts)]
    shipped: dict[str, set[str]] = {}
    for project in projects:
        out = tmp_path / project.name
        # setuptools builds in the project's build/; leave no such litter behind.
        litter = not (project / "build").exists()
        try:
            subprocess.run(
                [sys.executable, "-m", "pip", "wheel", str(project), "--no-deps", "-q", "-w", str(out)],
                check=True, capture_output=True, timeout=300,
            )  # fmt: skip
        finally:
            if litter:
                shutil.rmtree(project / "build", ignore_errors=True)
        for wheel in out.glob("*.whl"):
            shipped[wheel.name] = set(zipfile.ZipFile(wheel).namelist())
    for module, copy in (("conformance/schema.py", "conformance/openapi.json"), ("impl/openapi.py", "impl/openapi.json")):
        holders = [name for name, files in shipped.items() if module in files]
        assert holders, f"no wheel ships {module}"
        assert all(copy in shipped[name] for name in holders), f"a wheel ships {module} without {copy}"


if __name__ == "__main__":
    write_copies()
