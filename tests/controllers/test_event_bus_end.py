"""The bus's last word at a stop (EventBus.end_subscriptions): every live stream hears it,
also one whose queue is full of events it fell behind on and one that connects during the stop,
so none holds the stop up (tests/test_stop_with_open_streams.py runs the real program)."""

from __future__ import annotations

import asyncio

from controllers.events import STOPPING, Event, EventBus


def test_every_subscriber_ends_also_a_full_one_and_a_late_one() -> None:
    async def main() -> None:
        bus = EventBus(queue_size=2)
        bus.bind(asyncio.get_running_loop())
        async with bus.subscribe() as behind:
            for i in range(3):
                bus.publish(Event("gate", {"i": i}))
            assert behind.full() and behind.overflowed
            async with bus.subscribe() as quiet:
                heard: list[Event] = []
                with bus.listening(heard.append):
                    bus.end_subscriptions()
                    await asyncio.sleep(0)  # delivered on the loop, as from a signal handler
                assert quiet.ended and behind.ended
                assert quiet.get_nowait() is STOPPING
                assert [behind.get_nowait(), behind.get_nowait()][-1] is STOPPING
                assert heard == []  # the city feed's listener is not told of it
            async with bus.subscribe() as late:
                assert late.ended and late.get_nowait() is STOPPING

    asyncio.run(main())
