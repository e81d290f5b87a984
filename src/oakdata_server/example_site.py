"""An example customer site on its own origin: a page loading oak.js, and a back end using
the SDK with the secret key. `scripts/demo --serve` runs it; tests/browser drives it.

The page reads a few oak.init options from its own query string (`key`, `host`,
`flush_interval`, `retry_initial_delay`, `autocapture=0`, `module=1`), so tests can point it
at the key, server and timing they need.
"""

from __future__ import annotations

import html
import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from oakdata import OakClient

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Example shop</title>
{loader}
</head><body>
<h1>Example shop</h1>
<p>Every click on a link or a button below is sent to OakData as <code>$autocapture</code>;
"Sign up" also has the back end capture <code>user_signed_up</code> and the page identify you.</p>
<p><a id="pricing" href="#pricing">See pricing</a></p>
<p><button id="buy" type="button">Buy <b>now</b></button></p>
<p><label>Card number <input id="card" value="4242 4242 4242 4242"></label></p>
<p><button id="signup" type="button">Sign up</button></p>
<p><a id="away" href="/other">Another page</a></p>
</body></html>"""

# Classic: the script tag as the docs show it. The sign-up button posts to the back end, which
# captures user_signed_up with the secret key, then identifies the visitor in the browser.
_CLASSIC = """<script src="{oak}/static/oak.js"></script>
<script>
  var params = new URLSearchParams(location.search);
  oak.init(params.get("key") || {key}, {{
    host: params.get("host") || {oak_json},
    debug: true,
    flush_interval: parseFloat(params.get("flush_interval") || "0.05"),
    retry_initial_delay: parseFloat(params.get("retry_initial_delay") || "0.5"),
    autocapture: params.get("autocapture") !== "0",
  }});
  document.addEventListener("DOMContentLoaded", function () {{
    document.getElementById("signup").addEventListener("click", function () {{
      var user = "user_" + Math.floor(Math.random() * 1e9);
      fetch("/signup", {{method: "POST", body: JSON.stringify({{user_id: user,
          anonymous_id: oak.get_distinct_id()}})}})
        .then(function () {{ oak.identify(user, {{name: "Ada"}}); window.signedUp = user; }});
    }});
  }});
</script>"""

_MODULE = """<script type="module">
  import oak from "{oak}/static/oak.mjs";
  oak.init({key}, {{host: {oak_json}, flush_interval: 0.05}});
  window.moduleOak = oak;
</script>"""


def site_app(
    oak_url: str, secret_key: str, settings: dict[str, str]
) -> tuple[Starlette, OakClient]:
    """The site, and its back end's client; `settings["public_key"]` is read on each page, as
    the key can only be made once the site's port, part of its origin, is known."""
    backend = OakClient(secret_key, host=oak_url, flush_at=1, flush_interval=0)

    async def page(request: Request) -> HTMLResponse:
        loader = _MODULE if request.query_params.get("module") else _CLASSIC
        values = {
            "oak": html.escape(oak_url),
            "oak_json": json.dumps(oak_url),
            "key": json.dumps(settings["public_key"]),
        }
        return HTMLResponse(_PAGE.format(loader=loader.format(**values)))

    async def signup(request: Request) -> JSONResponse:
        payload = json.loads(await request.body())
        backend.capture(payload["user_id"], "user_signed_up", {"plan": "free"})
        delivered = backend.flush(timeout=10.0)
        return JSONResponse({"delivered": delivered})

    routes = [
        Route("/", page),
        Route("/other", page),
        Route("/signup", signup, methods=["POST"]),
    ]
    return Starlette(routes=routes), backend
