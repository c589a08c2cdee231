"""Device and camera URLs with ``user:password@``: the password is sent as basic auth, never
kept in the URL, and never shown (logs, fault messages that become alarms, /healthz names)."""

from __future__ import annotations

import pytest

from url_credentials import shown_url, split_credentials


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:s3cret@10.0.0.5:554/Streaming/Channels/101",
         "rtsp://admin:***@10.0.0.5:554/Streaming/Channels/101"),
        # The host as written: an IPv6 address keeps its brackets, a name its case.
        ("rtsp://admin:s3cret@[fe80::1]:554/live", "rtsp://admin:***@[fe80::1]:554/live"),
        ("http://admin:s3cret@Relay-Gate.local/relay/0", "http://admin:***@Relay-Gate.local/relay/0"),
        # A password holding an escaped @ or colon is masked whole.
        ("http://admin:p%40ss:w@10.0.0.9/status", "http://admin:***@10.0.0.9/status"),
        ("http://admin:@10.0.0.9/status", "http://admin:***@10.0.0.9/status"),
        # Nothing to hide: unchanged.
        ("http://admin@10.0.0.9/status", "http://admin@10.0.0.9/status"),
        ("http://10.0.0.9/relay/0?turn=on", "http://10.0.0.9/relay/0?turn=on"),
        ("/var/lib/parkgate/a:b@c.mp4", "/var/lib/parkgate/a:b@c.mp4"),
        # A port that is no number is shown as written (the old redaction raised on it).
        ("rtsp://admin:s3cret@10.0.0.5:abc/live", "rtsp://admin:***@10.0.0.5:abc/live"),
        # An IPv6 address left open: nothing of it can be trusted.
        ("http://admin:s3cret@[fe80::1/x", "(unparsable URL)"),
    ],
)
def test_a_shown_url_never_holds_the_password(url: str, shown: str) -> None:
    assert shown_url(url) == shown
    assert "s3cret" not in shown_url(url) and "p%40ss" not in shown_url(url)


def test_credentials_leave_the_url_and_come_back_decoded() -> None:
    assert split_credentials("http://admin:p%40ss@10.0.0.9/relay/0?turn=on") == (
        "http://10.0.0.9/relay/0?turn=on", ("admin", "p@ss"),
    )
    assert split_credentials("http://10.0.0.9/x") == ("http://10.0.0.9/x", None)
