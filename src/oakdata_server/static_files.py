"""GET /static/{name}: oak.js for sites' pages, and the console's own script and style sheet.

Read once from the package when the app is made. oak.mjs, the ES module, is oak.js with an
export added, so the classic script and the module cannot drift apart.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

from oakdata_server.errors import error_response

# Sites pin nothing: an hour of caching, then a revalidation that costs a 304.
CACHE_CONTROL = "public, max-age=3600"
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


def oak_js() -> str:
    return (resources.files("oakdata_server") / "static" / "oak.js").read_text("utf-8")


def _read_all() -> dict[str, bytes]:
    folder = resources.files("oakdata_server") / "static"
    files = {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.endswith((".js", ".css"))
    }
    files["oak.mjs"] = files["oak.js"] + b"export default oak;\nexport { oak };\n"
    return files


class StaticFiles:
    def __init__(self) -> None:
        self._files = {
            name: (content, f'"{hashlib.sha256(content).hexdigest()[:32]}"')
            for name, content in _read_all().items()
        }

    async def serve(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self._files:
            return error_response(404, "not_found", "Not found.")
        content, etag = self._files[name]
        headers = {
            "Cache-Control": CACHE_CONTROL,
            "ETag": etag,
            "X-Content-Type-Options": "nosniff",
            # A page on another origin may load oak.mjs as a module, which needs CORS.
            "Access-Control-Allow-Origin": "*",
        }
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        media_type = _TYPES[name[name.rindex(".") :]]
        return Response(content, media_type=media_type, headers=headers)
