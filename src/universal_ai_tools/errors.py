"""The exception hierarchy. Each class carries its HTTP status; `app.py` maps them once.

Messages are written for the client: they never contain stack traces, file paths or
secrets.
"""

from __future__ import annotations


class UAITError(Exception):
    status_code: int = 500
    error_type: str = "server_error"
    code: str = "internal_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(UAITError):
    status_code = 400
    error_type = "invalid_request_error"
    code = "invalid_request"


class Unauthorized(UAITError):
    status_code = 401
    error_type = "authentication_error"
    code = "unauthorized"


class Forbidden(UAITError):
    status_code = 403
    error_type = "permission_error"
    code = "forbidden"


class NotFound(UAITError):
    status_code = 404
    error_type = "not_found_error"
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class Conflict(UAITError):
    status_code = 409
    error_type = "invalid_request_error"
    code = "conflict"


class PayloadTooLarge(UAITError):
    status_code = 413
    error_type = "invalid_request_error"
    code = "request_too_large"


class NotImplementedYet(UAITError):
    status_code = 501
    error_type = "not_implemented_error"
    code = "not_implemented"


class BackendError(UAITError):
    """The backend answered with an error of its own."""

    status_code = 502
    error_type = "upstream_error"
    code = "backend_error"


class BackendUnavailable(UAITError):
    """The backend could not be reached, timed out or is overloaded."""

    status_code = 503
    error_type = "upstream_error"
    code = "backend_unavailable"


class BackendClientError(UAITError):
    """The backend rejected the request as invalid (its 4xx): passed on, never retried."""

    error_type = "invalid_request_error"
    code = "backend_rejected_request"

    def __init__(self, message: str, *, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code if 400 <= status_code < 500 else 400
