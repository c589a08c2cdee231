"""A Modbus read cancelled as its answer arrives ends cancelled, so a gate stops.

pymodbus waits for each answer with ``asyncio.wait_for``, which on Python 3.11 returns an
answer that arrives as its task is cancelled and drops the cancellation. The coil probe and
the input poll read in a loop until cancelled: a stop that landed in that window went unseen,
the loop read on and the gate's stop never returned (a shutdown that hangs). Seen under load
as a 60 s pytest time-out of test_link_at_start's silent-gateway test, whose gateway answers
every read at once.
"""

from __future__ import annotations

import asyncio

import pytest

from hardware.modbus import ModbusLink
from tests.cancel_window import cancel_after_turns

pytestmark = pytest.mark.timeout(60)


class InstantBoard:
    """A Modbus TCP board that answers every read-coils request at once (coil 0 off) and
    sets the events in ``answered`` right after each answer is written."""

    def __init__(self) -> None:
        self.port = 0
        self.server: asyncio.Server | None = None
        self.answered: list[asyncio.Event] = []
        self._connections: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """After the client closed: each connection ends on its end of stream."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        await asyncio.gather(*self._connections)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        this = asyncio.current_task()
        assert this is not None
        self._connections.append(this)
        try:
            while True:
                header = await reader.readexactly(7)  # MBAP: transaction, protocol, length, unit
                await reader.readexactly(int.from_bytes(header[4:6], "big") - 1)
                reply = bytes([0x01, 0x01, 0x00])  # read coils, one byte: all off
                writer.write(header[:4] + (len(reply) + 1).to_bytes(2, "big") + header[6:7]
                             + reply)
                await writer.drain()
                for event in self.answered:
                    event.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


def test_a_read_cancelled_as_its_answer_arrives_ends_cancelled() -> None:
    """The cancel comes 0 to 5 loop turns after the board wrote its answer; those that come
    while the read is still pending (0 to 2 on Python 3.11.7) must end it cancelled."""

    async def main() -> list[int]:
        board = InstantBoard()
        await board.start()
        link = ModbusLink("127.0.0.1", board.port, 1, 5.0)
        cancelled_pending: list[int] = []
        try:
            await link.call("read_coils", 0, count=1)  # connected: only reads from here
            for turns in range(6):
                answered = asyncio.Event()
                board.answered[:] = [answered]
                read = asyncio.create_task(link.call("read_coils", 0, count=1))
                await answered.wait()
                if await cancel_after_turns(read, turns, "read"):
                    cancelled_pending.append(turns)
            board.answered.clear()
            await link.call("read_coils", 0, count=1)  # the link still answers
        finally:
            await link.close()
            await board.stop()
        return cancelled_pending

    # The window was hit at all: a cancel came while the answer was on its way.
    assert asyncio.run(main())[:1] == [0]
