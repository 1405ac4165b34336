"""Domain errors, each with the HTTP status it maps to; translated in one place (app.py)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the client caused; `status` is the HTTP status hint.

    `fields` go into the JSON body beside `error` (EXT-REASON's `reason`);
    `headers` onto the response (`Retry-After`).
    """

    status = 400
    default_message = "Bad request."

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None, **fields: Any) -> None:
        self.message = message or self.default_message
        self.fields = fields
        self.headers = headers or {}
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.fields}


class BadRequest(ApiError):
    status = 400


class NotAuthenticated(ApiError):
    status = 401
    default_message = "Not authenticated."


class InvalidCredentials(ApiError):
    # One message for unknown email and wrong password (HARD-ENUM).
    status = 401
    default_message = "Invalid email or password."


class Forbidden(ApiError):
    status = 403
    default_message = "Forbidden."


class NotFound(ApiError):
    status = 404
    default_message = "Not found."


class Conflict(ApiError):
    status = 409
    default_message = "Conflict."


class PayloadTooLarge(ApiError):
    status = 413
    default_message = "Request body too large."


class TooManyAttempts(ApiError):
    # HARD-THROTTLE: one message whether or not the account exists (HARD-ENUM).
    status = 429
    default_message = "Too many failed attempts. Try again later."

    def __init__(self, retry_after: int) -> None:
        super().__init__(headers={"Retry-After": str(retry_after)})


class Unavailable(ApiError):
    # The database cannot answer now (down, full, read-only, locked too long).
    status = 503
    default_message = "The service is temporarily unavailable. Try again shortly."

    def __init__(self, retry_after: int) -> None:
        super().__init__(headers={"Retry-After": str(retry_after)})


# Bodies of the statuses Bottle itself raises (routing, methods, crashes),
# so every answer has the same JSON shape.
STATUS_MESSAGES = {
    400: "Bad request.",
    401: "Not authenticated.",
    403: "Forbidden.",
    404: "Not found.",
    405: "Method not allowed.",
    413: "Request body too large.",
    429: "Too many requests.",
    431: "Request header fields too large.",
    500: "Internal server error.",
    503: "Service unavailable.",
}
