"""The API's error type and the fixed errors Toxiproxy answers with.

Clients (the Go client, ``toxiproxy-python``, our own driver) branch on the status code and
sometimes on the message, so both are copied from Toxiproxy 2.12.0 word for word.
"""

from __future__ import annotations


class ApiError(Exception):
    """An error the REST API reports as ``{"error": message, "status": status}``."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def detailed(self, detail: str) -> ApiError:
        """This error with ``: detail`` appended, the way Toxiproxy wraps a cause."""
        return ApiError(f"{self.message}: {detail}", self.status)

    def to_json(self) -> dict[str, object]:
        return {"error": self.message, "status": self.status}


BAD_REQUEST_BODY = ApiError("bad request body", 400)
MISSING_FIELD = ApiError("missing required field", 400)
PROXY_NOT_FOUND = ApiError("proxy not found", 404)
PROXY_ALREADY_EXISTS = ApiError("proxy already exists", 409)
INVALID_STREAM = ApiError("stream was invalid, can be either upstream or downstream", 400)
INVALID_TOXIC_TYPE = ApiError("invalid toxic type", 400)
TOXIC_ALREADY_EXISTS = ApiError("toxic already exists", 409)
TOXIC_NOT_FOUND = ApiError("toxic not found", 404)
