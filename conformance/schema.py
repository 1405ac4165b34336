"""The contract's OpenAPI description, and the check that every JSON body the suite receives follows it.

Theory of operation:

1. The description ships inside this package (`openapi.json`, generated from
   the repository's docs/openapi.yaml; a test keeps the two equal), so an
   installed suite needs neither the repository nor a YAML parser.
2. A response maps to a response of the description by method, path template
   and status: the path without its query string, literal paths before
   templated ones (`/me/sessions/revoke-all` before `/me/sessions/{id}`), a
   `{param}` matching one non-empty segment; the status exactly, then its
   range (`4XX`), then `default`. An endpoint or status the description lacks
   is not checked here (the checks that expect it judge it), and neither is a
   body that is not JSON.
3. A broken body is blamed on rules: those of the nearest `x-rules` above the
   broken value in the schema, or else those of the operation and of the
   response. It fails the running check only when that check's rule is among
   them. So `isCurrent: "yes"` fails CORE-LIST's checks, and not CORE-REVOKE's,
   which merely read the list to find an id (blame the right rule: the owner's
   own checks always request what it owns).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any, Iterable

import jsonschema

DESCRIPTION_FILE = "openapi.json"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# A failure shows at most this many problems of one body; the first is usually the one.
MAX_PROBLEMS_SHOWN = 3


class SchemaViolation(AssertionError):
    """A body that breaks the contract's OpenAPI description, in a check of a rule that owns it."""


@dataclass(frozen=True)
class Problem:
    """One way a body breaks the description: where, what, and the rules to blame."""

    where: str  # "[0].isCurrent", or "" for the body itself
    message: str  # jsonschema's, e.g. "'yes' is not of type 'boolean'"
    rules: frozenset[str]
    pointer: str  # the schema's JSON pointer in the description, for the curious

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass(frozen=True)
class ResponseShape:
    """A response of the description: its operation, status key, body schema and owning rules."""

    operation: str  # "GET /me/sessions"
    status: str  # "200", "4XX" or "default"
    schema: dict[str, Any] | None
    rules: frozenset[str]
    pointer: str

    @functools.cached_property
    def validator(self) -> jsonschema.protocols.Validator:
        assert self.schema is not None
        return jsonschema.Draft202012Validator(self.schema)

    def problems(self, body: Any) -> list[Problem]:
        """Return every way `body` breaks this response's schema, body order first."""
        if self.schema is None:
            return []
        found = []
        for error in self.validator.iter_errors(body):
            owners = _nearest_rules(self.schema, error.absolute_schema_path)
            found.append(
                Problem(
                    where=json_path(error.absolute_path),
                    message=error.message,
                    rules=self.rules if owners is None else frozenset(owners),
                    pointer=self.pointer + "/" + "/".join(str(part) for part in error.absolute_schema_path),
                )
            )
        return sorted(found, key=lambda problem: (problem.where, problem.message))


def json_path(parts: Iterable[Any]) -> str:
    """Return a readable path into a body: `[0].isCurrent`, `error`, or "" for the body itself."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _nearest_rules(schema: Any, path: Iterable[Any]) -> list[str] | None:
    """Return the `x-rules` nearest above the end of a schema path, None if none is on the way."""
    owners = schema.get("x-rules") if isinstance(schema, dict) else None
    node = schema
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, dict) and isinstance(node.get("x-rules"), list):
            owners = node["x-rules"]
    return owners


def _inline(node: Any, document: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """Return `node` with every local `$ref` replaced by its target; siblings of a `$ref` win over it.

    The description has no recursive schema, so this ends; a cycle is refused
    rather than followed forever.
    """
    if isinstance(node, list):
        return [_inline(item, document, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if not ref.startswith("#/") or ref in seen:
            raise ValueError(f"cannot inline $ref {ref!r} of the OpenAPI description")
        target: Any = document
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        merged = dict(_inline(target, document, seen + (ref,)))
        merged.update({key: _inline(value, document, seen) for key, value in node.items() if key != "$ref"})
        return merged
    return {key: _inline(value, document, seen) for key, value in node.items()}


class Description:
    """An OpenAPI 3.1 document, ready to map responses to their shapes."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        # Literal paths first, as OpenAPI asks: a concrete path wins over a template.
        self._paths = sorted(
            ((template, _segments(template)) for template in document.get("paths", {})),
            key=lambda item: sum("{" in segment for segment in item[1]),
        )
        self._shapes: dict[tuple[str, str, str], ResponseShape | None] = {}

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        """Return (path template, operation) for a request (query string allowed), or None if not described.

        A literal path that lacks the method leaves the request to a template
        (DELETE /me/sessions/revoke-all is a DELETE of the session id
        "revoke-all"), as routers do.
        """
        method = method.lower()
        if method not in _METHODS:
            return None
        segments = _segments(path.split("?", 1)[0].split("#", 1)[0])
        for template, pattern in self._paths:
            if len(pattern) == len(segments) and all(
                (p.startswith("{") and p.endswith("}") and s) or p == s for p, s in zip(pattern, segments)
            ):
                operation = self.document["paths"][template].get(method)
                if isinstance(operation, dict):
                    return template, operation
        return None

    def shape(self, method: str, path: str, status: int) -> ResponseShape | None:
        """Return the described response for this request and status, or None if not described."""
        found = self.operation(method, path)
        if found is None:
            return None
        template, operation = found
        method = method.lower()
        responses = operation.get("responses", {})
        key = next(
            (key for key in (str(status), f"{str(status)[0]}XX", "default") if key in responses),
            None,
        )
        if key is None:
            return None
        cache_key = (template, method, key)
        if cache_key not in self._shapes:
            self._shapes[cache_key] = self._build(template, method, key)
        return self._shapes[cache_key]

    def _build(self, template: str, method: str, key: str) -> ResponseShape:
        operation = self.document["paths"][template][method]
        response = _inline(operation["responses"][key], self.document)
        rules = set(operation.get("x-rules", [])) | set(response.get("x-rules", []))
        media = response.get("content", {}).get("application/json", {})
        schema = media.get("schema")
        escaped = template.replace("~", "~0").replace("/", "~1")
        pointer = f"#/paths/{escaped}/{method}/responses/{key}/content/application~1json/schema"
        return ResponseShape(f"{method.upper()} {template}", key, schema, frozenset(rules), pointer)

    def problems(self, method: str, path: str, status: int, content: bytes) -> tuple[ResponseShape | None, list[Problem]]:
        """Return the shape a response maps to and the ways its JSON body breaks it (none if not JSON)."""
        shape = self.shape(method, path, status)
        if shape is None or shape.schema is None or not content:
            return shape, []
        try:
            body = json.loads(content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return shape, []
        return shape, shape.problems(body)


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/") if path.strip("/") else []


@functools.lru_cache(maxsize=1)
def description() -> Description:
    """Return the description shipped with the suite."""
    text = resources.files(__package__).joinpath(DESCRIPTION_FILE).read_text(encoding="utf-8")
    return Description(json.loads(text))


def violation_message(method: str, status: int, shape: ResponseShape, problems: list[Problem]) -> str:
    """Return the failure's text: its first line names the operation, the status and each wrong field."""
    shown = "; ".join(str(problem) for problem in problems[:MAX_PROBLEMS_SHOWN])
    more = len(problems) - MAX_PROBLEMS_SHOWN
    if more > 0:
        shown += f"; and {more} more"
    where = problems[0].pointer
    return (
        f"{shape.operation} {status}: {shown}\n"
        f"(the body breaks the contract's OpenAPI description, docs/openapi.yaml, at {where})"
    )


def check(method: str, path: str, status: int, content: bytes, rule: str | None) -> None:
    """Raise SchemaViolation if the body breaks the description where `rule` owns it; else return."""
    __tracebackhide__ = True
    if rule is None:
        return
    shape, problems = description().problems(method, path, status, content)
    blamed = [problem for problem in problems if rule in problem.rules]
    if shape is not None and blamed:
        raise SchemaViolation(violation_message(method, status, shape, blamed))
