"""A URL's ``user:password@`` taken out of it before it is used.

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
