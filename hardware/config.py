"""Configuration of barriers, contacts and free-space boards, chosen per gate by ``driver``.

Every model forbids unknown keys, so a typo in the YAML fails at start-up instead of being
ignored. Each gate nests one ``barrier:`` (default: simulated). Examples::

    # simulated barrier (the default), for development and demos
    barrier:
      driver: sim
      open_seconds: 10
      opening_s: 1.5

    # Tasmota relay, latch: cmnd/gate-east/POWER1 ON|OFF, echo on stat/gate-east/POWER1
    # (stat/gate-east/POWER from a Tasmota with one relay: both are read)
    barrier:
      driver: mqtt
      preset: tasmota
      host: 192.168.10.2
      port: 1883
      username: parkgate
      password_env: PARKGATE_MQTT_PASSWORD
      device: gate-east
      open_channel: 1
      presence_topic: stat/gate-east/POWER2
      command_timeout_s: 2
      retries: 2
      on_fault: fail_safe

    # Tasmota, pulse: a barrier controller with separate OPEN and CLOSE dry contacts
    barrier:
      driver: mqtt
      preset: tasmota
      host: 192.168.10.2
      device: gate-west
      relay_mode: pulse
      open_channel: 1
      close_channel: 2
      pulse_ms: 500

    # Shelly Plus 1 (Gen2 RPC over MQTT): Switch.Set on <device>/rpc, switch ids from 0
    barrier:
      driver: mqtt
      preset: shelly
      host: 192.168.10.2
      device: shellyplus1-a8032ab12345
      open_channel: 0

    # any MQTT relay with its own topics. Tasmota (tele/<dev>/LWT) and Shelly (<dev>/online)
    # relays are watched for their retained Last Will by default, so a relay that goes
    # offline is a gate fault at once; custom firmware names its own (availability_topic).
    barrier:
      driver: mqtt
      preset: custom
      host: 192.168.10.2
      device: barrier7
      command_topic: site/{device}/relay/{channel}/set
      state_topic: site/{device}/relay/{channel}
      payload_on: "1"
      payload_off: "0"
      state_on: "1"
      state_off: "0"
      availability_topic: site/{device}/status

    # Modbus TCP relay board: coils are relays, discrete inputs are contacts
    barrier:
      driver: modbus
      host: 192.168.10.20
      unit_id: 1
      relay_mode: pulse
      open_channel: 0
      close_channel: 1
      pulse_ms: 300
      limit_open_input: 0
      limit_closed_input: 1
      presence_input: 2
      poll_interval_s: 0.1
      on_fault: fail_secure

    # GPIO on the controller (BCM pins); many relay HATs are active-low
    barrier:
      driver: gpio
      open_channel: 17
      active_high: false
      feedback_pin: 27
      presence_pin: 22
      limit_open_pin: 23
      limit_closed_pin: 24

    # HTTP relay (Shelly Gen1 style), loop detector reported on MQTT. status_url is read
    # every poll_interval_s so a dead relay is a gate fault before any car; without it a
    # dead relay shows only when a command fails.
    barrier:
      driver: http
      on_url: http://192.168.10.30/relay/{channel}?turn=on
      off_url: http://192.168.10.30/relay/{channel}?turn=off
      open_channel: 0
      expect_body: '"ison"'
      status_url: http://192.168.10.30/relay/{channel}
      status_expect_body: '"ison"'
      poll_interval_s: 1
      presence:
        driver: mqtt
        host: 192.168.10.2
        topic: loops/east/presence

    # a lane screen beside the barrier (ScreenConfig, the gate's screen:): JSON on MQTT
    screen:
      driver: mqtt
      host: 192.168.10.2
      topic: lane/{gate_id}/screen
      hold_s: 10

    # the fire-alarm contact (InputConfig) and a free-space board (DisplayConfig)
    fire_alarm:
      driver: modbus
      host: 192.168.10.20
      address: 7
    display:
      driver: modbus
      host: 192.168.10.21
      registers: {B1: 0, B2: 1}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from controllers.barrier import BarrierTiming, FaultPolicy
from hardware.relay_barrier import CommandPolicy, RelayWiring


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _MqttConnection(_Strict):
    host: str = Field("127.0.0.1", description="MQTT broker host.")
    port: int = Field(1883, ge=1, le=65535, description="MQTT broker port.")
    username: str | None = Field(None, description="Broker user name, if it needs one.")
    password_env: str | None = Field(
        None, description="Name of the environment variable holding the broker password."
    )
    keepalive_s: int = Field(30, ge=5, description="MQTT keep-alive interval.")
    reconnect_min_s: float = Field(0.5, gt=0, description="First reconnect delay.")
    reconnect_max_s: float = Field(30.0, gt=0, description="Longest reconnect delay.")


class SimInputConfig(_Strict):
    driver: Literal["sim"] = Field("sim", description="Contact set by code or the admin UI.")


class MqttInputConfig(_MqttConnection):
    driver: Literal["mqtt"] = Field(description="Contact reported on an MQTT topic.")
    topic: str = Field(description="Topic carrying the contact state.")
    payload_on: str = Field("ON", description="Payload meaning active.")
    payload_off: str | None = Field(
        None,
        description="Payload meaning inactive; any other is logged and ignored (the contact "
        "stays as last read). Default: OFF when payload_on is ON; with another payload_on, "
        "every payload but that one is inactive.",
    )

    def payload_free(self) -> str | None:
        """The payload that makes the contact inactive; None: every payload but payload_on."""
        return _off_payload(self.payload_on, self.payload_off)


def _off_payload(on: str, off: str | None) -> str | None:
    """A contact's inactive payload: the one configured, OFF beside the default ON, or None
    (every payload but ``on``) beside an ``on`` of the installer's own, as it always was."""
    if off is not None:
        return off
    return "OFF" if on == "ON" else None


# Modbus addresses on the wire are 16 bits, counted from 0 (a manual's 1xxxx/0xxxx numbering
# starts at 1 and carries the table in front: its discrete input 10001 is address 0 here).
MODBUS_ADDRESS_MAX = 0xFFFF
# One "read discrete inputs" request carries at most 2000 of them (Modbus spec, 6.2): a
# barrier's inputs are read in one request, so they must lie within that span.
MODBUS_INPUTS_PER_READ = 2000


class ModbusInputConfig(_Strict):
    driver: Literal["modbus"] = Field(description="Discrete input on a Modbus TCP device.")
    host: str = Field(description="Modbus TCP server host.")
    port: int = Field(502, ge=1, le=65535, description="Modbus TCP port.")
    unit_id: int = Field(1, ge=0, le=247, description="Modbus unit (device) id.")
    address: int = Field(
        ge=0, le=MODBUS_ADDRESS_MAX, description="Discrete input address, counted from 0."
    )
    poll_interval_s: float = Field(0.2, gt=0, description="How often the input is read.")


class GpioInputConfig(_Strict):
    driver: Literal["gpio"] = Field(description="Contact on a GPIO pin.")
    pin: int = Field(description="Input pin.")
    pull_up: bool = Field(True, description="Internal pull-up; the contact closes to GND.")
    pin_factory: Literal["default", "mock"] = Field("default", description="gpiozero factory.")


InputConfig = Annotated[
    SimInputConfig | MqttInputConfig | ModbusInputConfig | GpioInputConfig,
    Field(discriminator="driver"),
]


class _BarrierCommon(_Strict):
    open_seconds: float = Field(
        10.0, description="Auto-close after this many seconds open (0 disables auto-close)."
    )
    command_timeout_s: float = Field(
        2.0, gt=0, description="How long to wait for the device to confirm one command."
    )
    retries: int = Field(2, ge=0, le=10, description="Extra attempts after a failed command.")
    retry_delay_s: float = Field(0.2, ge=0, description="Pause between command attempts.")
    motion_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Opening/closing longer than this without a limit switch is a fault.",
    )
    travel_s: float = Field(
        1.5,
        gt=0,
        description="Assumed arm travel time when no limit switch is wired for a direction.",
    )
    on_fault: Literal["fail_safe", "fail_secure"] = Field(
        "fail_safe",
        description="On a fault: fail_safe tries to open, fail_secure tries to close "
        "(never onto an occupied loop).",
    )
    relay_mode: Literal["latch", "pulse"] = Field(
        "latch",
        description="latch: one relay, energised = open. pulse: pulse open_channel to open, "
        "close_channel to close.",
    )
    open_channel: int = Field(1, ge=0, description="Relay channel (or coil/pin) that opens.")
    close_channel: int | None = Field(
        None, ge=0, description="Relay channel that closes (pulse mode only)."
    )
    pulse_ms: int = Field(500, gt=0, le=10_000, description="Pulse length in pulse mode.")
    presence: InputConfig | None = Field(
        None,
        description="Presence loop detector on any input driver, when the barrier's own "
        "device does not provide it (presence_topic/presence_input/presence_pin).",
    )
    close_after_pass_s: float | None = Field(
        1.0,
        ge=0,
        description="车过落杆: once the car an open was for has crossed the presence loop, close "
        "this many seconds after the loop clears instead of waiting out open_seconds, so a "
        "second car cannot follow on the same opening; must be more than tailgate_gap_s. On "
        "by default because Chinese barrier controllers do this out of the box and operators "
        "expect it; without a presence loop it does nothing, so a barrier with none keeps "
        "closing after open_seconds. Gates with a loop close sooner than before this setting "
        "existed: the loop must be the safety loop under or just past the arm (防砸地感), never "
        "a loop ahead of it. null: off (the arm stays up for open_seconds). Never while held "
        "open or during a fire alarm, never onto an occupied loop.",
    )
    tailgate_gap_s: float = Field(
        0.5,
        ge=0,
        description="A presence loop freed for less than this is still the same vehicle (a "
        "trailer behind a truck); a longer gap is the next vehicle, and a vehicle more than the "
        "opening was for is a tailgating alarm (跟车). Must be less than close_after_pass_s "
        "when that is set.",
    )

    @model_validator(mode="after")
    def verify_pulse_has_close_channel(self) -> _BarrierCommon:
        if self.relay_mode == "pulse" and self.close_channel is None:
            raise ValueError("relay_mode pulse needs close_channel")
        return self

    @model_validator(mode="after")
    def verify_close_after_pass_outlasts_tailgate_gap(self) -> _BarrierCommon:
        # The machine closes close_after_pass_s after the loop clears, but only a gap of
        # tailgate_gap_s tells the next vehicle from a trailer: an arm coming down first starts
        # onto the trailer (and goes back up) and never sees a follower as a second vehicle.
        after = self.close_after_pass_s
        if after is not None and after <= self.tailgate_gap_s:
            raise ValueError(
                f"close_after_pass_s ({after:g}) must be more than tailgate_gap_s "
                f"({self.tailgate_gap_s:g}): the arm would come down before a second vehicle "
                "could be told from a trailer; raise close_after_pass_s, lower tailgate_gap_s "
                "or set close_after_pass_s to null"
            )
        return self

    def timing(self) -> BarrierTiming:
        return BarrierTiming(
            open_seconds=self.open_seconds,
            motion_timeout_s=self.motion_timeout_s,
            on_fault=FaultPolicy(self.on_fault),
            close_after_pass_s=self.close_after_pass_s,
            tailgate_gap_s=self.tailgate_gap_s,
        )

    def wiring(self) -> RelayWiring:
        return RelayWiring(
            mode=self.relay_mode,
            open_channel=self.open_channel,
            close_channel=self.close_channel,
            pulse_s=self.pulse_ms / 1000,
        )

    def policy(self) -> CommandPolicy:
        return CommandPolicy(
            command_timeout_s=self.command_timeout_s,
            retries=self.retries,
            retry_delay_s=self.retry_delay_s,
            travel_s=self.travel_s,
        )


class SimBarrierConfig(_BarrierCommon):
    driver: Literal["sim"] = Field("sim", description="Simulated barrier (no hardware).")
    opening_s: float = Field(1.5, gt=0, description="Simulated time for the arm to open.")
    closing_s: float = Field(1.5, gt=0, description="Simulated time for the arm to close.")
    echo_delay_s: float = Field(0.02, ge=0, description="Simulated relay confirmation delay.")


@dataclass(frozen=True, slots=True)
class RelayAvailability:
    """Where an MQTT relay announces itself (its retained Last Will) and what it says."""

    topic: str
    online: str
    offline: str

    def __post_init__(self) -> None:
        if not self.topic:
            raise ValueError("RelayAvailability.topic must not be empty")
        if self.online.strip().casefold() == self.offline.strip().casefold():
            raise ValueError(
                f"availability_online and availability_offline must differ, got "
                f"{self.online!r} and {self.offline!r}"
            )

    def says_online(self, payload: str) -> bool | None:
        """True for online, False for offline, None for anything else (compared ignoring
        case: Tasmota says Online, ESPHome online)."""
        said = payload.strip().casefold()
        if said == self.online.strip().casefold():
            return True
        if said == self.offline.strip().casefold():
            return False
        return None


# What each firmware announces about itself: topic (None: no standard one), online, offline.
AVAILABILITY_PRESETS: dict[str, tuple[str | None, str, str]] = {
    "tasmota": ("tele/{device}/LWT", "Online", "Offline"),
    "shelly": ("{device}/online", "true", "false"),
    "custom": (None, "online", "offline"),
}


class MqttBarrierConfig(_BarrierCommon, _MqttConnection):
    driver: Literal["mqtt"] = Field(description="Relay switched over MQTT.")
    preset: Literal["tasmota", "shelly", "custom"] = Field(
        "tasmota",
        description="tasmota: cmnd/<dev>/POWER<n> -> stat/<dev>/POWER<n>; shelly: Gen2 RPC on "
        "<dev>/rpc; custom: the topic/payload fields below.",
    )
    device: str = Field(description="Device topic (Tasmota) or device id prefix (Shelly).")
    client_id: str | None = Field(None, description="MQTT client id (default parkgate-<gate>).")
    command_topic: str | None = Field(
        None, description="custom: command topic, may use {device} and {channel}."
    )
    state_topic: str | None = Field(
        None, description="custom: echo topic, may use {device} and {channel}."
    )
    payload_on: str = Field("ON", description="custom: command payload to energise.")
    payload_off: str = Field("OFF", description="custom: command payload to de-energise.")
    state_on: str = Field("ON", description="custom: echo payload meaning energised.")
    state_off: str = Field("OFF", description="custom: echo payload meaning de-energised.")
    presence_topic: str | None = Field(
        None, description="Topic carrying the presence loop state (e.g. stat/<dev>/POWER2)."
    )
    presence_on: str = Field("ON", description="Payload of presence_topic meaning occupied.")
    presence_off: str | None = Field(
        None,
        description="Payload of presence_topic meaning free; any other is logged and ignored "
        "(the loop stays as last read: a message that says nothing about it never brings the "
        "arm down on a car). Default: OFF when presence_on is ON; with another presence_on, "
        "every payload but that one is free.",
    )
    availability: bool = Field(
        True,
        description="Watch the relay's own online/offline message (its retained MQTT Last "
        "Will), so a relay that loses power or Wi-Fi is a gate fault at once instead of when "
        "the next car's open times out, and its return clears the fault. Only an explicit "
        "offline is a fault: a relay that never sends one (old firmware, Last Will disabled) "
        "is not. false: ignore the topic (firmware that uses it for something else).",
    )
    availability_topic: str | None = Field(
        None,
        description="Topic of the relay's online/offline message, may use {device}. Default: "
        "tasmota tele/{device}/LWT, shelly {device}/online, custom none (set one to watch it).",
    )
    availability_online: str | None = Field(
        None,
        description="Payload of availability_topic meaning online, compared ignoring case. "
        "Default: tasmota Online, shelly true, custom online.",
    )
    availability_offline: str | None = Field(
        None,
        description="Payload of availability_topic meaning offline, compared ignoring case. "
        "Default: tasmota Offline, shelly false, custom offline.",
    )

    @model_validator(mode="after")
    def verify_custom_topics(self) -> MqttBarrierConfig:
        if self.preset == "custom" and (not self.command_topic or not self.state_topic):
            raise ValueError("preset custom needs command_topic and state_topic")
        return self

    @model_validator(mode="after")
    def verify_echo_is_not_the_command(self) -> MqttBarrierConfig:
        """The broker hands parkgate its own command on a topic it also reads the relay's
        state on: a command payload that is also a state payload confirms itself, so the gate
        shows opening with no relay there at all and a dead relay is never a fault."""
        if self.preset != "custom" or not self.command_topic or not self.state_topic:
            return self
        for channel in sorted({self.open_channel, self.close_channel or self.open_channel}):
            fields = {"device": self.device, "channel": channel}
            try:
                command, state = (
                    self.command_topic.format(**fields),
                    self.state_topic.format(**fields),
                )
            except (KeyError, IndexError, ValueError):
                return self  # not a topic parkgate can make: the relay's start says so
            if command == state and (
                self.payload_on == self.state_on or self.payload_off == self.state_off
            ):
                raise ValueError(
                    f"command_topic and state_topic are one topic ({command}) and a command "
                    "payload is also a state payload (payload_on/state_on, payload_off/"
                    "state_off): parkgate would take its own command for the relay's answer; "
                    "set state_topic to the topic the relay reports its state on"
                )
        return self

    @model_validator(mode="after")
    def verify_availability(self) -> MqttBarrierConfig:
        self.relay_availability()  # a bad topic or equal payloads fail at start-up
        return self

    def presence_free(self) -> str | None:
        """The payload that frees the loop; None: every payload but presence_on."""
        return _off_payload(self.presence_on, self.presence_off)

    def relay_availability(self) -> RelayAvailability | None:
        """The relay's online/offline announcement to watch, or None when there is none."""
        if not self.availability:
            return None
        topic, online, offline = AVAILABILITY_PRESETS[self.preset]
        template = self.availability_topic or topic
        if template is None:
            return None
        try:
            resolved = template.format(device=self.device)
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(
                f"availability_topic may use only {{device}}, got {template!r}"
            ) from err
        return RelayAvailability(
            resolved,
            self.availability_online or online,
            self.availability_offline or offline,
        )


class ModbusBarrierConfig(_BarrierCommon):
    driver: Literal["modbus"] = Field(description="Relay board over Modbus TCP.")
    host: str = Field(description="Modbus TCP server host.")
    port: int = Field(502, ge=1, le=65535, description="Modbus TCP port.")
    unit_id: int = Field(1, ge=0, le=247, description="Modbus unit (device) id.")
    presence_input: int | None = Field(
        None,
        ge=0,
        le=MODBUS_ADDRESS_MAX,
        description="Discrete input address of the presence loop detector, counted from 0.",
    )
    limit_open_input: int | None = Field(
        None,
        ge=0,
        le=MODBUS_ADDRESS_MAX,
        description="Discrete input address of the open limit switch, counted from 0.",
    )
    limit_closed_input: int | None = Field(
        None,
        ge=0,
        le=MODBUS_ADDRESS_MAX,
        description="Discrete input address of the closed limit switch, counted from 0.",
    )
    poll_interval_s: float = Field(
        0.2,
        gt=0,
        description="How often discrete inputs are read; with none configured, how often the "
        "open_channel coil is read back to see whether the server still answers.",
    )

    @model_validator(mode="after")
    def verify_modbus_addresses(self) -> ModbusBarrierConfig:
        # pymodbus refuses these only when the request is built: a coil in a command that
        # fails at the first car, inputs in the poll, whose task then stopped unseen.
        for name in ("open_channel", "close_channel"):
            coil = getattr(self, name)
            if coil is not None and coil > MODBUS_ADDRESS_MAX:
                raise ValueError(
                    f"{name} {coil} is not a Modbus coil address (0 to {MODBUS_ADDRESS_MAX}, "
                    "counted from 0)"
                )
        inputs = {
            name: address
            for name in ("presence_input", "limit_open_input", "limit_closed_input")
            if (address := getattr(self, name)) is not None
        }
        if inputs and max(inputs.values()) - min(inputs.values()) >= MODBUS_INPUTS_PER_READ:
            listed = ", ".join(f"{name} {address}" for name, address in inputs.items())
            raise ValueError(
                f"{listed}: a barrier's inputs are read in one request, so they must lie within "
                f"{MODBUS_INPUTS_PER_READ} addresses of each other (addresses count from 0)"
            )
        return self


class GpioBarrierConfig(_BarrierCommon):
    driver: Literal["gpio"] = Field(description="Relay on a GPIO pin (gpiozero).")
    pin_factory: Literal["default", "mock"] = Field(
        "default", description="gpiozero pin factory; mock for bench tests without a Pi."
    )
    active_high: bool = Field(True, description="Relay board energises on a high pin.")
    feedback_pin: int | None = Field(
        None, description="Optional input wired to the relay's contact, read back as the echo."
    )
    presence_pin: int | None = Field(None, description="Input pin of the presence loop.")
    limit_open_pin: int | None = Field(None, description="Input pin of the open limit switch.")
    limit_closed_pin: int | None = Field(None, description="Input pin of the closed limit switch.")
    pull_up: bool = Field(True, description="Inputs use the internal pull-up (contact to GND).")


class HttpBarrierConfig(_BarrierCommon):
    driver: Literal["http"] = Field(description="Relay switched by HTTP requests.")
    on_url: str = Field(
        description="URL template to energise a channel, e.g. http://10.0.0.5/relay/{channel}"
        "?turn=on ({channel} is replaced)."
    )
    off_url: str = Field(description="URL template to de-energise a channel.")
    method: Literal["GET", "POST"] = Field("GET", description="HTTP method of both URLs.")
    expect_body: str | None = Field(
        None, description="Substring the response must contain to count as confirmed."
    )
    auth_env: str | None = Field(
        None, description="Environment variable with 'user:password' for basic auth."
    )
    status_url: str | None = Field(
        None,
        description="URL template read with GET every poll_interval_s to see that the device "
        "still answers, e.g. http://10.0.0.5/relay/{channel} or http://10.0.0.5/status "
        "(Shelly Gen1); {channel} is open_channel. Two failed reads in a row (no answer, a "
        "status other than 2xx, or an answer without status_expect_body) make the gate a "
        "fault before any car; the next good read clears it. None: nothing is polled and a "
        "dead device shows only when a command fails.",
    )
    status_expect_body: str | None = Field(
        None,
        description="Substring a status_url answer must contain to count as the device "
        "answering (None: any 2xx answer does).",
    )
    poll_interval_s: float = Field(
        1.0,
        gt=0,
        description="How often status_url is read. Longer than Modbus' 0.2 s: each read is an "
        "HTTP request to a small (often Wi-Fi) device that serves one request at a time.",
    )

    @model_validator(mode="after")
    def verify_status_url(self) -> HttpBarrierConfig:
        self.resolved_status_url()  # a bad placeholder fails at start-up, not in the poll
        return self

    def resolved_status_url(self) -> str | None:
        """status_url with {channel} filled in, or None when nothing is polled."""
        if self.status_url is None:
            return None
        try:
            return self.status_url.format(channel=self.open_channel)
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(
                f"status_url may use only {{channel}}, got {self.status_url!r}"
            ) from err


BarrierConfig = Annotated[
    SimBarrierConfig
    | MqttBarrierConfig
    | ModbusBarrierConfig
    | GpioBarrierConfig
    | HttpBarrierConfig,
    Field(discriminator="driver"),
]


class SimDisplayConfig(_Strict):
    driver: Literal["sim"] = Field("sim", description="Simulated free-space board.")


class MqttDisplayConfig(_MqttConnection):
    driver: Literal["mqtt"] = Field(description="Board listening on MQTT.")
    topic: str = Field(
        "parkgate/display/{zone_id}", description="Topic template, may use {zone_id}."
    )
    payload: str = Field("{free}", description="Payload template, may use {zone_id} and {free}.")
    retain: bool = Field(True, description="Retain so a rebooted board shows the last value.")


class ModbusDisplayConfig(_Strict):
    driver: Literal["modbus"] = Field(description="Board with holding registers (Modbus TCP).")
    host: str = Field(description="Modbus TCP server host.")
    port: int = Field(502, ge=1, le=65535, description="Modbus TCP port.")
    unit_id: int = Field(1, ge=0, le=247, description="Modbus unit (device) id.")
    registers: dict[str, Annotated[int, Field(ge=0, le=MODBUS_ADDRESS_MAX)]] = Field(
        description="Holding register address per zone id, counted from 0, e.g. {B1: 0, B2: 1}."
    )
    timeout_s: float = Field(2.0, gt=0, description="Time-out of one register write.")


class HttpDisplayConfig(_Strict):
    driver: Literal["http"] = Field(description="Board updated by HTTP requests.")
    url: str = Field(description="URL template, may use {zone_id} and {free}.")
    method: Literal["GET", "POST"] = Field("GET", description="HTTP method.")
    timeout_s: float = Field(2.0, gt=0, description="Time-out of one request.")


DisplayConfig = Annotated[
    SimDisplayConfig | MqttDisplayConfig | ModbusDisplayConfig | HttpDisplayConfig,
    Field(discriminator="driver"),
]


class _ScreenCommon(_Strict):
    hold_s: float = Field(
        10.0,
        gt=0,
        le=600,
        description="How long a message stays on the screen before it goes back to its idle "
        "screen (the free spaces of the gate's zone, when known).",
    )
    timeout_s: float = Field(
        2.0,
        gt=0,
        le=30,
        description="The longest one message may take to reach the screen; a screen that is "
        "off or hung is given up on after this, never holding up a barrier.",
    )


class SimScreenConfig(_ScreenCommon):
    driver: Literal["sim"] = Field(
        "sim", description="Simulated screen that keeps what it shows (demo, tests)."
    )


class MqttScreenConfig(_ScreenCommon, _MqttConnection):
    driver: Literal["mqtt"] = Field(description="Screen listening on MQTT (JSON, QoS 1).")
    topic: str = Field(
        "parkgate/screens/{gate_id}",
        description="Topic template, may use {gate_id}. Not retained: a screen that reboots "
        "shows its idle screen, not an old car's message.",
    )
    client_id: str | None = Field(
        None, description="MQTT client id (default parkgate-screen-<gate>)."
    )

    @model_validator(mode="after")
    def verify_topic(self) -> MqttScreenConfig:
        self.resolved_topic("gate")  # a bad placeholder fails at start-up, not per car
        if any(c in self.topic for c in "+#"):
            raise ValueError(f"screen topic must not hold MQTT wildcards, got {self.topic!r}")
        return self

    def resolved_topic(self, gate_id: str) -> str:
        try:
            return self.topic.format(gate_id=gate_id)
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"screen topic may use only {{gate_id}}, got {self.topic!r}") from err


class HttpScreenConfig(_ScreenCommon):
    driver: Literal["http"] = Field(description="Screen updated by an HTTP POST of JSON.")
    url: str = Field(
        description="URL the message is POSTed to as JSON, may use {gate_id}, e.g. "
        "http://192.168.10.40/api/screen."
    )
    auth_env: str | None = Field(
        None, description="Environment variable with 'user:password' for basic auth."
    )

    @model_validator(mode="after")
    def verify_url(self) -> HttpScreenConfig:
        resolved = self.resolved_url("gate")
        if not resolved.startswith(("http://", "https://")):
            raise ValueError(f"screen url must start with http:// or https://, got {self.url!r}")
        return self

    def resolved_url(self, gate_id: str) -> str:
        try:
            return self.url.format(gate_id=gate_id)
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"screen url may use only {{gate_id}}, got {self.url!r}") from err


ScreenConfig = Annotated[
    SimScreenConfig | MqttScreenConfig | HttpScreenConfig,
    Field(discriminator="driver"),
]
