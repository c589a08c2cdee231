"""A URL's ``user:password@`` taken out of it before it is used, or masked before it is shown.

Device and camera URLs carry basic-auth credentials this way (Shelly's and most IP cameras'
own documentation write them so), and httpx names the URL it requests in its errors and in
its INFO request log: sent as the request's auth instead, the password reaches neither.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its ``user:password@`` and the pair (percent-decoded), if it had one."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    credentials = (unquote(parts.username or ""), unquote(parts.password or ""))
    return urlunsplit(parts._replace(netloc=host)), credentials


def shown_url(url: str) -> str:
    """``url`` fit for a log line, a fault message or a camera's name: its password masked.

    A fault message becomes an alarm, stored and sent to the city platform, and a camera's
    name is on the public ``/healthz``. The user name stays (a wrong one is a common install
    fault) and the host is kept as written (an IPv6 address keeps its brackets)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:  # an unclosed IPv6 bracket: nothing of it can be trusted
        return "(unparsable URL)"
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
