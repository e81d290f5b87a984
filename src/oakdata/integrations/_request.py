"""The properties a request's context carries, the same in every web integration."""

from __future__ import annotations


def request_properties(
    scheme: str, host: str, path: str, method: str, ip: str | None
) -> dict[str, str]:
    """$current_url, $method, $path, and $ip only when the app asked for it.

    The URL leaves out the query string: it often holds what analytics must not keep
    (password-reset tokens, emails in search forms, signed links). The IP address is
    personal data under the GDPR, and behind a proxy the peer's address is the proxy's,
    so it is sent only when the app opts in (and knows where the client's address is).
    """
    properties = {
        "$current_url": f"{scheme}://{host}{path}" if host else path,
        "$method": method,
        "$path": path,
    }
    if ip:
        properties["$ip"] = ip
    return properties
