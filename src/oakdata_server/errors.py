"""The one exception the request path raises, and its JSON form.

IngestError          an answer other than 2xx, with status, code and message
"""

from __future__ import annotations

from starlette.responses import JSONResponse


class IngestError(Exception):
    """A request refused as a whole; becomes `{"error": {"code", "message"}}`."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )
