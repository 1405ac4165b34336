"""Before any check: is the target there, is it this API, and what is its session cookie called.

The suite (plugin.py) and the lesson runner (lesson.py) both ask these
questions first, so a wrong URL gets one line saying so instead of a page of
failures.
"""

from __future__ import annotations

from conformance.client import Device, Target, TransportError, parse_set_cookie, random_email, random_password


def cannot_check(target: Target) -> str:
    """Return why the target cannot be checked ("" if it can): unreachable, or not answering like this API."""
    device = Device(target, label="reachability check")
    try:
        device.get("/me", cookie=None)
        not_the_api = _not_the_api(target, device)
    except TransportError:
        return f"cannot reach {target.base_url}/: {target.log.items[-1].error}"
    finally:
        device.close()
    if not_the_api:
        return f"{target.base_url} does not answer like the sessions API: {not_the_api}"
    return ""


# Statuses that say "no such endpoint here", whatever the server is.
_NO_ENDPOINT = {404: "404 Not Found", 405: "405 Method Not Allowed", 501: "501 Not Implemented"}


def _not_the_api(target: Target, probe: Device) -> str:
    """Return why the target is not this API at all ("" if it may be), from two harmless requests.

    POST /login (and /signup, unless --user says the target has none) with an
    empty JSON object: the contract answers 400 and changes nothing. An HTML
    page, or a status saying the endpoint does not exist, means the base URL
    points at something else (a static file server, the wrong path prefix),
    where 1,700 lines of failures would only hide that one fact.
    """
    paths = ["/login"] + (["/signup"] if target.signup_available else [])
    for path in paths:
        response = probe.post(path, json={}, cookie=None, follow_cookies=False)
        content_type = response.headers.get("Content-Type", "")
        what = f"POST {path} answered {_NO_ENDPOINT.get(response.status_code, response.status_code)}"
        if response.status_code in _NO_ENDPOINT:
            return f"{what} (is the base URL right, path prefix included?)"
        if "html" in content_type.lower() or response.content.lstrip()[:1] == b"<":
            return f"{what} with an HTML page, not JSON (is the base URL right, path prefix included?)"
    return ""




def learn_cookie_name(target: Target) -> str:
    """Log in once and take the session cookie's name from Set-Cookie; `session` if that fails."""
    device = Device(target, label="cookie-name probe")
    try:
        if target.users:
            email, password = target.users[0]
        else:
            email, password = random_email("conf-probe"), random_password()
            if device.signup(email, password).status_code != 201:
                return target.cookie_name
        response = device.login(email, password, cookie=None, follow_cookies=False)
        cookies = [parse_set_cookie(raw) for raw in device.set_cookies(response)]
        cookies = [(name, value, attrs) for name, value, attrs in cookies if name and value]
        if response.status_code != 200 or not cookies:
            return target.cookie_name
        names = [name for name, _, _ in cookies]
        if target.cookie_name in names:
            chosen = target.cookie_name
        elif len(cookies) == 1:
            chosen = names[0]
        else:
            http_only = [name for name, _, attrs in cookies if "httponly" in attrs]
            chosen = (http_only or names)[0]
        # Leave no session behind on a shared server.
        token = next(value for name, value, _ in cookies if name == chosen)
        target.redact.add(token)
        target.cookie_name = chosen
        device.logout(cookie=token, follow_cookies=False)
        return chosen
    except TransportError:
        return target.cookie_name
    finally:
        device.close()


