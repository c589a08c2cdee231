"""Gate faults in the guard's language: a short summary of the driver's English message.

A barrier's fault text comes from its driver (hardware/) in English, written for a log and a
technician ("link lost: relay gate1 is offline (…)", "modbus://10.0.0.5:502/1: no answer to
write_coil: …"). The gate strip shows a summary from this table and keeps the driver's text
in small print, for whoever fixes the device; a message the table does not know shows as it
is. The page's script gets the same table (``browser_fault_table``) for faults that arrive
over the live stream, so both say the same thing.

The expressions are written in the syntax Python and JavaScript share (no lookbehind, no
named groups) and are *searched* in the message, first match wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from api.console.i18n import Lang, translate


@dataclass(frozen=True, slots=True)
class FaultFamily:
    """Messages of one kind, from whichever driver, and the key of their summary."""

    regex: str
    key: str
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", re.compile(self.regex))

    def matches(self, message: str) -> bool:
        return self._compiled.search(message) is not None


# Specific families first: "link lost: relay x is offline" is the relay, not the broker.
FAULT_FAMILIES: tuple[FaultFamily, ...] = (
    # hardware/modbus.py: the board has no such input (a loop or limit switch misaddressed)
    FaultFamily(r"board refuses (?:input address|to read inputs)", "fault.input_address"),
    # hardware/mqtt.py RelayLink: the relay's Last Will (power or Wi-Fi gone)
    FaultFamily(r"relay \S+ is offline", "fault.relay_offline"),
    # hardware/relay_barrier.py: the broker, server or port went away, or never came
    FaultFamily(
        r"^link lost: |^cannot connect: |not connected|cannot connect$"
        r"|not reachable within",
        "fault.link_lost",
    ),
    # controllers/barrier.py: the arm's limit switch never reported the end position
    FaultFamily(r"^barrier did not report (?:open|closed) within", "fault.not_in_place"),
    # relay_barrier.py command time-outs; modbus.py, http.py and modbus displays
    FaultFamily(
        r"not confirmed within|given up before the device confirmed|no answer"
        r"|did not answer",
        "fault.no_answer",
    ),
    # modbus.py coil echo, gpio.py read-back
    FaultFamily(r"echoed \S+, wanted|reads \S+ after driving", "fault.relay_mismatch"),
    # modbus.py exception responses, http.py status and body checks, Shelly RPC errors
    FaultFamily(
        r"device refused|: status \d+|answer lacks|^Shelly |publish to .* refused", "fault.refused"
    ),
    # unreachable at the transport: simulated offline, HTTP/GPIO errors, publish failures
    FaultFamily(r"is offline|^HTTP |^GPIO |^modbus://|^MQTT ", "fault.link_lost"),
)


def fault_summary(lang: Lang, message: str | None) -> str | None:
    """The fault's summary in ``lang``; an unknown message as it is; None without a fault."""
    if not message:
        return None
    for family in FAULT_FAMILIES:
        if family.matches(message):
            return translate(lang, family.key)
    return message


def browser_fault_table(lang: Lang) -> list[list[str]]:
    """The same families for live.js, with their summaries already in ``lang``."""
    return [[family.regex, translate(lang, family.key)] for family in FAULT_FAMILIES]
