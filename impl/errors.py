"""Domain errors, each with the HTTP status it maps to; translated in one place (app.py)."""

from __future__ import annotations


class ApiError(Exception):
    """An error the client caused; `status` is the HTTP status hint."""

    status = 400
    default_message = "Bad request."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


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


class HeaderTooLarge(ApiError):
    status = 431
    default_message = "Request header fields too large."


# Bodies of the statuses Bottle itself raises (routing, methods, crashes),
# so every answer has the same JSON shape.
STATUS_MESSAGES = {
    400: "Bad request.",
    401: "Not authenticated.",
    403: "Forbidden.",
    404: "Not found.",
    405: "Method not allowed.",
    413: "Request body too large.",
    431: "Request header fields too large.",
    500: "Internal server error.",
}
