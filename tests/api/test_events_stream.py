"""The console's event stream when its reader falls behind: the bus keeps 256 waiting events
per stream and drops the oldest to make room, so a page on a slow link would show a list
with holes and never know. The stream says ``resync`` instead, and the page reads again."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from controllers.events import Event, EventBus
from tests.api.test_console import StreamRequest, add_staff, stream_chunks
from tests.conftest import services_of

RESYNC = "event: resync\ndata: {}\n\n"


@pytest.mark.parametrize("waiting", [256, 257, 600])
def test_a_reader_further_behind_than_its_queue_is_told_to_resync(
    app_factory: Any, waiting: int
) -> None:
    client = app_factory()
    # A bus of its own, on this test's loop (the app's is bound to the app's).
    services = dataclasses.replace(services_of(client), bus=EventBus())
    add_staff(services, "guard", "guard")
    request = StreamRequest(client.app, services.signer.issue("guard", "guard"))
    sent_after = 10_000
    # The hello, what the queue keeps (all, or nothing once it overflowed), the event after.
    last = 1 + (waiting if waiting <= 256 else 1) + 1

    def during(n: int) -> None:
        if n == 1:  # all published while the stream waits on its reader
            for i in range(waiting):
                services.bus.publish(Event("passage", {"id": i}))
        elif n == 2:
            services.bus.publish(Event("passage", {"id": sent_after}))
        if n == last:  # the session runs out: the stream ends at the next heartbeat
            request.cookies = {"parkgate_session": services.signer.issue("guard", "guard", now=0)}

    chunks = stream_chunks(request, services, during)
    ids = [json.loads(c.split("\n")[1].removeprefix("data: "))["data"]["id"]
           for c in chunks if c.startswith("event: passage")]
    if waiting <= 256:
        # As many as the queue holds: every one relayed, in order, and no resync.
        assert RESYNC not in chunks
        assert ids == [*range(waiting), sent_after]
    else:
        # One more: the rest is dropped and the page told to read again, once; what is
        # published after it is relayed as usual.
        assert chunks[1] == RESYNC and chunks.count(RESYNC) == 1
        assert ids == [sent_after]
    assert services.bus.subscriber_count == 0
