"""A link fault soak: one recording session through the real path under random faults.

emulated BlueZ (virtual sensor, faults) -> bleak's BlueZ backend -> BleSource ->
Recorder -> a .pmrec file, then the file is compared with what the sensor really sent
(truth.compare). Runs faster than real time: the virtual sensor's clock runs `speed`
times faster, and so do BleSource's clock and sleeps (back-off, watchdog), so a fault
schedule in simulated seconds means what it would in real time. What runs on bleak's
and the D-Bus daemon's own clocks (connection set-up) does not scale: it takes `speed`
times longer in simulated seconds than it would in reality.

Faults come one at a time (the next after the client streams again), at random
intervals, with random parameters from a seeded generator; each kind comes at least
once. Used by bench/link_soak.py (30 minutes) and tests/test_link_soak.py (short).
"""

from __future__ import annotations

import asyncio
import os
import random
import resource
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from imu.ble.emulator.control import EmulatedBluez, emulated_bluez
from imu.ble.emulator.spec import VirtualDeviceSpec
from imu.ble.emulator.truth import TruthComparison, compare
from imu.ble.recorder import Recorder
from imu.ble.stream import BleSettings, BleSource, LinkEvent
from imu.devices import open_profile
from imu.recording import read_recording

# What each kind does; parameters are drawn in plan_faults (simulated seconds).
FAULT_KINDS = {
    "disconnect": "link drops; the device is away, then returns",
    "adapter-off": "adapter powered off and on (links drop, devices forgotten)",
    "bluez-restart": "bluetoothd restarts (every object and org.bluez go away)",
    "lost-burst": "a burst of notifications lost on air",
    "duplicate": "notifications delivered twice",
    "reorder": "notifications delivered after the next one or two",
    "late": "notifications held back, then delivered in one burst",
    "clock-drift": "the sensor's oscillator changes its error (ppm)",
    "clock-jump": "the sensor's timestamps step (counter goes on)",
    "stall": "connected, but no data for a while",
}
# Faults after which the client must reconnect or sees silence: each has an end time.
TIMED = {"disconnect": "down_s", "adapter-off": "off_s", "bluez-restart": "off_s",
         "stall": "stall_s", "late": "delay_s"}
SOAK_DEVICE = VirtualDeviceSpec("open", "PelvisIMU-soak", "C0:FF:EE:00:50:01",
                                preset="walk-basic", errors="none", duration_scale=0.5)
# A fault whose client has not streamed again within this long (simulated) is reported
# as not recovered, and the soak goes on.
RECOVERY_LIMIT_S = 300.0


@dataclass(frozen=True)
class SoakSettings:
    """One soak session (times in simulated seconds)."""

    minutes: float = 30.0
    """Simulated length; longer if needed until every fault kind came once."""
    speed: float = 20.0
    seed: int = 1
    mean_interval_s: float = 20.0
    """Mean quiet time between the end of one fault and the next."""
    max_outage_s: float = 60.0
    """Longest disconnect, adapter-off time, stall or delay (short CI runs lower it)."""
    kinds: tuple[str, ...] = tuple(FAULT_KINDS)
    device: VirtualDeviceSpec = SOAK_DEVICE
    timing_stall_timeout_s: float = BleSettings().stall_timeout_s


@dataclass(frozen=True)
class PlannedFault:
    kind: str
    params: dict
    wait_s: float
    """Quiet time before it (simulated seconds)."""


@dataclass
class FaultRecord:
    """One fault as it happened (host monotonic times)."""

    kind: str
    params: dict
    start_s: float
    end_s: float
    """When the fault condition ended (device back, adapter on, stall over)."""
    recovered_s: float | None = None
    """When the client received samples again (None: not within RECOVERY_LIMIT_S)."""


@dataclass(frozen=True)
class ResourceSample:
    sim_s: float
    rss_mb: float
    cpu_s: float
    """This process's user + system CPU seconds."""
    emulator_cpu_s: float
    """Emulator and dbus-daemon processes' CPU seconds."""


@dataclass
class SoakReport:
    settings: SoakSettings
    faults: list[FaultRecord]
    comparison: TruthComparison
    events: list[LinkEvent]
    resources: list[ResourceSample]
    wall_s: float
    sim_s: float
    samples_lost_reported: int
    reconnects: int
    timeline_counts: dict[str, int] = field(default_factory=dict)


def plan_faults(settings: SoakSettings, count: int) -> list[PlannedFault]:
    """`count` faults (every kind once first, in random order), seeded."""
    rng = random.Random(settings.seed)
    kinds = list(settings.kinds)
    rng.shuffle(kinds)
    kinds += [rng.choice(settings.kinds) for _ in range(max(0, count - len(kinds)))]
    planned = []
    for kind in kinds[:count]:
        params = _params(kind, rng)
        if kind in TIMED:
            params[TIMED[kind]] = min(params[TIMED[kind]], settings.max_outage_s)
        wait_s = max(3.0, rng.expovariate(1 / settings.mean_interval_s))
        planned.append(PlannedFault(kind, params, wait_s))
    return planned


def _params(kind: str, rng: random.Random) -> dict:
    if kind == "disconnect":
        return {"down_s": rng.choice([rng.uniform(0.5, 5), rng.uniform(5, 60)])}
    if kind in ("adapter-off", "bluez-restart"):
        return {"off_s": rng.uniform(0.5, 10)}
    if kind == "lost-burst":
        return {"notifications": rng.randint(1, 40)}
    if kind == "duplicate":
        return {"notifications": rng.randint(1, 5)}
    if kind == "reorder":
        return {"notifications": rng.randint(1, 3), "by": rng.randint(1, 2)}
    if kind == "late":
        return {"delay_s": rng.uniform(0.1, 2.0)}
    if kind == "clock-drift":
        return {"ppm": rng.uniform(-200, 200)}
    if kind == "clock-jump":
        return {"jump_s": rng.choice([-1, 1]) * rng.choice([rng.uniform(0.5, 20),
                                                            rng.uniform(200, 900)])}
    if kind == "stall":
        return {"stall_s": rng.choice([rng.uniform(0.5, 4), rng.uniform(6, 40)])}
    raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")


async def apply_fault(emu: EmulatedBluez, address: str, fault: PlannedFault) -> None:
    """Ask the emulator for one fault."""
    c, p = emu.control, fault.params
    kind = fault.kind
    if kind == "disconnect":
        await c.drop_link(address, p["down_s"])
    elif kind in ("adapter-off", "bluez-restart"):
        await c.reset_adapter(p["off_s"], restart=kind == "bluez-restart")
    elif kind == "lost-burst":
        await c.drop_notifications(address, p["notifications"])
    elif kind == "duplicate":
        await c.duplicate_notifications(address, p["notifications"])
    elif kind == "reorder":
        await c.reorder_notifications(address, p["notifications"], p["by"])
    elif kind == "late":
        await c.delay_notifications(address, p["delay_s"])
    elif kind == "clock-drift":
        await c.set_clock_drift(address, p["ppm"])
    elif kind == "clock-jump":
        await c.jump_clock(address, p["jump_s"])
    elif kind == "stall":
        await c.stall(address, p["stall_s"])


class ScaledTime:
    """Simulated seconds: `speed` per host second, from construction."""

    def __init__(self, speed: float) -> None:
        self.speed = float(speed)
        self.origin_s = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self.origin_s) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _cpu_s(pid: int | None = None) -> float:
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_soak(settings: SoakSettings, folder: str | os.PathLike,
                   progress=None) -> SoakReport:
    """Run one soak session, recording into `folder`, and compare (see module doc).
    `progress(text)` is called now and then."""
    device = replace(settings.device, speed=settings.speed)
    with emulated_bluez([device]) as emu:
        return await _session(emu, device, settings, Path(folder) / "soak.pmrec",
                              progress or (lambda _text: None))


async def _session(emu: EmulatedBluez, device: VirtualDeviceSpec, settings: SoakSettings,
                   path: Path, progress) -> SoakReport:
    sim = ScaledTime(settings.speed)
    recorder = Recorder(path, overwrite=True)
    events: list[LinkEvent] = []

    def on_event(event: LinkEvent) -> None:
        events.append(event)
        recorder.on_link_event(event)

    ble = BleSettings(profile=device.profile, rate_hz=200,
                      stall_timeout_s=settings.timing_stall_timeout_s)
    source = BleSource(device.address, ble, on_event=on_event, clock=sim.now, sleep=sim.sleep)
    stop = asyncio.Event()
    duration_s = settings.minutes * 60.0
    plan = plan_faults(settings, count=10 * int(duration_s / settings.mean_interval_s) + 20)
    faults: list[FaultRecord] = []
    resources: list[ResourceSample] = []
    wall0 = time.monotonic()

    def measure() -> None:
        resources.append(ResourceSample(sim.now(), _rss_mb(), _cpu_s(),
                                        sum(_cpu_s(pid) for pid in emu.pids)))

    async def director() -> None:
        await _until(lambda: source.status().samples_received > 0, sim, RECOVERY_LIMIT_S)
        initial_ppm = random.Random(settings.seed).uniform(-100, 100)  # a typical crystal
        await emu.control.set_clock_drift(device.address, initial_ppm)
        measure()
        next_measure = sim.now() + 60.0
        for index, fault in enumerate(plan):
            end_at = sim.now() + fault.wait_s
            if end_at >= duration_s and index >= len(settings.kinds):
                break  # (a short session goes on until every kind came once)
            while sim.now() < end_at:  # quiet time, measuring once a simulated minute
                await sim.sleep(min(1.0, end_at - sim.now()))
                if sim.now() >= next_measure:
                    measure()
                    next_measure += 60.0
            faults.append(await _inject(emu, device.address, fault, source, sim))
            progress(f"{sim.now() / 60:5.1f} min  {fault.kind:13s} {_describe(fault.params)}")
        await sim.sleep(max(0.0, duration_s - sim.now()))
        measure()
        stop.set()

    task = asyncio.create_task(director())
    task.add_done_callback(lambda _: stop.set())  # a failed director ends the recording...
    try:
        await recorder.run(source, stop)
    finally:
        if not task.done():
            task.cancel()
    if not task.cancelled():
        task.result()  # ...and its error surfaces here instead of a hang
    log = await emu.control.send_log(device.address)
    rec = read_recording(path, strict=True)
    comparison = compare(rec.samples, log, counter_modulo=open_profile.COUNTER_MODULO,
                         host_to_session_s=sim.origin_s * sim.speed + source.epoch_s,
                         time_scale=sim.speed)
    status = source.status()
    tl = source.timeline
    counts = {} if tl is None else {"duplicates dropped": tl.duplicates,
                                    "reordered frames": tl.reordered,
                                    "clock jumps": tl.clock_jumps, "device restarts": tl.restarts,
                                    "clamped times": tl.clamped}
    return SoakReport(settings, faults, comparison, events, resources,
                      time.monotonic() - wall0, sim.now(), status.samples_lost, status.reconnects,
                      counts)


async def _inject(emu: EmulatedBluez, address: str, fault: PlannedFault, source: BleSource,
                  sim: ScaledTime) -> FaultRecord:
    """Apply a fault, wait for its end and for samples to flow again."""
    start = time.monotonic()
    await apply_fault(emu, address, fault)
    duration_s = fault.params.get(TIMED.get(fault.kind, ""), 0.0)
    await sim.sleep(duration_s)
    end = start + duration_s / sim.speed
    record = FaultRecord(fault.kind, fault.params, start, end)
    received = source.status().samples_received
    if await _until(lambda: source.status().samples_received > received
                    and source.status().link_state == "streaming", sim, RECOVERY_LIMIT_S):
        record.recovered_s = time.monotonic()
    return record


async def _until(condition, sim: ScaledTime, limit_s: float) -> bool:
    deadline = sim.now() + limit_s
    while not condition():
        if sim.now() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


def _describe(params: dict) -> str:
    return ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items())
