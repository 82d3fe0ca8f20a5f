"""Long sessions: a 2-hour session streamed live (accelerated) and replayed keeps memory flat
and the dashboard responsive.

The session is a 10-minute script (calibration, walking, running with turns, lunges)
that the virtual sensor loops (times and sequence numbers continue), so 2 h of 200 Hz
data need only 10 minutes simulated. Three paths, each in a fresh process (so one
path's freed memory does not hide the next one's growth):

- live: the dashboard's LiveStream fed by the unpaced virtual sensor (its stream
  thread, pipeline, rings, analysis items), and every SAMPLE_EVERY_MIN simulated minutes
  the live view's two server callbacks called as the page calls them (POST
  /_dash-update-component): the chart tick and the slow panels tick;
- pipeline replay: the recording of the same 2 h read back with iter_recording and fed
  through a Pipeline chunk by chunk (the streaming replay path);
- dashboard replay: the file analysed as the replay view does (whole file, by design
  proportional to its length), then its player callback seeking through the session.

Printed: RSS after warm-up and growth (limit LIMIT_GROWTH_MB), CPU seconds per
simulated hour, analysis items and their bytes per hour, and callback times at the
start vs the end (the ratio is the responsiveness figure).

    python -m bench.long_session [--hours 2] [--every-min 10]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from imu.recording import DeviceInfo, RecordingHeader, RecordingWriter, iter_recording
from imu.samples import SampleBlock
from imu.simulate import SimulationResult, VirtualSensor, simulate
from imu.simulate.script import CALIBRATION_TOML, parse_text

ROOT = Path(__file__).resolve().parents[1]
RESULT_TAG = "LONG_SESSION_RESULT "
RATE_HZ = 200.0
LIMIT_GROWTH_MB = 20.0
WARMUP_MIN = 10.0
"""One loop of the script: every code path (calibration, gait, reps) has run once."""
SAMPLE_EVERY_MIN = 10.0

LOOP_SCRIPT = ("""
name = "long-session-loop"
description = "Ten minutes that loop into a long session: calibration, walk, run, lunges."
seed = 5

[sensor]
rate_hz = 200
mounting = "random"
errors = "typical"
packet_samples = {packet}
""" + CALIBRATION_TOML + """
[[segment]]
type = "walk"
duration_s = 120
speed_mps = 1.4
turn_every_s = 30

[[segment]]
type = "run"
duration_s = 240
speed_mps = 3.2
cpd_left_deg = 5
cpd_right_deg = 8
turn_every_s = 120

[[segment]]
type = "lunge"
sets = 2
reps = 8
side = "both"
depth_m = 0.3
rest_between_sets_s = 20

[[segment]]
type = "walk"
duration_s = 90
speed_mps = 1.3
""")


def loop_session(packet_samples: int = 10) -> SimulationResult:
    """The 10-minute loop, delivered in packets of `packet_samples` (a BLE link: ~10)."""
    return simulate(parse_text(LOOP_SCRIPT.format(packet=packet_samples), source="long-session"))


def rss_mb() -> float:
    """Resident set size of this process (VmRSS), MB."""
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
    return kb / 1024.0


def retained_bytes(root: object) -> int:
    """Bytes reachable from `root`: objects, containers and numpy data (a view counts its
    base once), not modules, classes or functions: the state an object keeps."""
    skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
            types.MethodType)
    seen: set[int] = set()
    stack, total = [root], 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, skip):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)  # an array that owns its data counts the data
        if isinstance(obj, np.ndarray):
            if obj.base is not None:
                stack.append(obj.base)
            continue
        stack.extend(gc.get_referents(obj))
    return total


def items_per_hour(items: Sequence[object], hours: float) -> tuple[Counter, float]:
    """Analysis items by kind per hour, and their bytes per hour."""
    kinds = Counter(type(it).__name__ for it in items)
    per_hour = Counter({k: round(v / hours) for k, v in kinds.items()})
    return per_hour, sum(retained_bytes(it) for it in items) / hours


# --------------------------------------------------------------------------- dashboard calls

class PageCalls:
    """Calls the app's server callbacks as the browser does (POST /_dash-update-component)."""

    def __init__(self, dash_app) -> None:
        self.app = dash_app
        self.client = dash_app.server.test_client()

    def call(self, first_output: str, values: dict[tuple[str, str], object],
             changed: tuple[str, str]) -> tuple[float, float, dict | None]:
        """(wall seconds, CPU seconds of this thread, response) of the callback whose first
        output is `first_output` ('id.property'); inputs and states take their value from
        `values` (else None). The CPU time is the callback's own cost: wall time also holds
        the waits for the GIL while the stream thread works."""
        key = next(k for k in self.app.callback_map if k.lstrip(".").startswith(first_output))
        spec = self.app.callback_map[key]
        parts = key[2:-2].split("...") if key.startswith("..") else [key]
        outputs = [dict(zip(("id", "property"), p.rsplit(".", 1))) for p in parts]

        def filled(items):
            return [{"id": i["id"], "property": i["property"],
                     "value": values.get((i["id"], i["property"]))} for i in items]

        body = {"output": key, "outputs": outputs if len(outputs) > 1 else outputs[0],
                "inputs": filled(spec["inputs"]), "state": filled(spec["state"]),
                "changedPropIds": [".".join(changed)]}
        t0, c0 = time.perf_counter(), time.thread_time()
        resp = self.client.post("/_dash-update-component", json=body)
        dt, dc = time.perf_counter() - t0, time.thread_time() - c0
        if resp.status_code not in (200, 204):
            raise RuntimeError(f"{first_output}: HTTP {resp.status_code} {resp.data[:300]!r}")
        return dt, dc, (resp.get_json() if resp.status_code == 200 else None)


def live_tick_seconds(calls: PageCalls, repeats: int = 5) -> tuple[float, ...]:
    """Median (wall, CPU) seconds of the live chart tick (a fresh tab: the whole window)
    and of the slow panels tick (panels built, as whenever new items were reported)."""
    from dashboard import ids
    p = ids.LIVE
    fast, slow = [], []
    for n in range(repeats):
        cursor = {"gen": -1, "i": 0}
        fast.append(calls.call(f"{p.angles_graph}.extendData",
                               {(p.tick, "n_intervals"): n, (p.cursor, "data"): cursor},
                               (p.tick, "n_intervals"))[:2])
        slow.append(calls.call(f"{ids.LIVE_LINK}.children",
                               {(p.slow_tick, "n_intervals"): n, (p.events_cursor, "data"): None},
                               (p.slow_tick, "n_intervals"))[:2])
    return (*np.median(fast, axis=0).tolist(), *np.median(slow, axis=0).tolist())


def replay_seek_seconds(calls: PageCalls, name: str, duration_s: float, position_s: float,
                        repeats: int = 3) -> float:
    """Median CPU seconds of the replay player's response to a seek to `position_s`."""
    from dashboard import ids
    loaded = {"name": name, "duration": duration_s}
    times = []
    for k in range(repeats):
        values = {(ids.REPLAY_SEEK, "value"): position_s + 0.1 * k,
                  (ids.REPLAY_LOADED, "data"): loaded, (ids.REPLAY_TAB, "data"): "bench",
                  (ids.REPLAY_SPEED, "value"): 1.0, (ids.REPLAY.tick, "n_intervals"): k}
        times.append(calls.call(f"{ids.REPLAY.angles_graph}.extendData", values,
                                (ids.REPLAY_SEEK, "value"))[1])
    return float(np.median(times))


# --------------------------------------------------------------------------- the paths

@dataclass(frozen=True)
class Sample:
    """One measurement point of a path."""

    sim_min: float
    rss_mb: float
    cpu_s: float
    """Process CPU seconds since the path started (all threads)."""
    kept_items: int = 0
    chart_tick_ms: float = float("nan")
    chart_tick_cpu_ms: float = float("nan")
    panels_tick_ms: float = float("nan")
    panels_tick_cpu_ms: float = float("nan")


def run_live(result: SimulationResult, hours: float, every_min: float, folder: Path,
             ) -> tuple[list[Sample], list, dict]:
    """Stream `hours` of the looped session through a dashboard's LiveStream, unpaced."""
    from dashboard.app import create_app
    from dashboard.config import DashboardConfig
    from dashboard.panel_data import events_view
    from imu.events.model import Flag

    app = create_app(DashboardConfig(recordings_dir=folder / "recordings"))
    stream = app.stream
    calls = PageCalls(app.dash)
    sensor = VirtualSensor(result, speed=None, loop=True)
    t_end = hours * 3600.0
    samples: list[Sample] = []
    cpu0 = time.process_time()
    stream.connect(sensor)
    origin = None
    next_min = 0.0
    seen, flags_reported = 0, 0
    try:
        while True:
            # Read the new items as a page does (often enough that none fall out unread).
            seen, new = stream.events_since(seen)
            flags_reported += sum(isinstance(it, Flag) for it in new)
            snap = stream.snapshot()
            if snap.error:
                raise RuntimeError(snap.error)
            if snap.last_time_s is not None:
                origin = snap.time_origin_s if origin is None else origin
                sim_min = (snap.last_time_s - origin) / 60.0
                if sim_min >= next_min:
                    ticks_ms = [t * 1e3 for t in live_tick_seconds(calls)]
                    gc.collect()
                    samples.append(Sample(round(sim_min, 1), rss_mb(), time.process_time() - cpu0,
                                          len(stream.events()), *ticks_ms))
                    next_min += every_min
                if sim_min * 60.0 >= t_end:
                    break
            time.sleep(0.05)
    finally:
        stream.disconnect()
    seen, new = stream.events_since(seen)
    flags_reported += sum(isinstance(it, Flag) for it in new)
    kept = stream.events()
    totals = {"items_reported": seen, "items_kept": len(kept),
              "raw_ring_samples": stream._raw._n, "raw_ring_limit": stream._raw.max_samples,
              "angle_ring_capacity": stream._ring.capacity,
              "flags_reported": flags_reported, "flags_shown": events_view(kept).flag_total}
    return samples, list(kept), totals


def write_session(result: SimulationResult, hours: float, path: Path) -> int:
    """The looped session as a recording (as a live recording writes it)."""
    sensor = VirtualSensor(result, speed=None, loop=True)
    header = RecordingHeader(result.rate_hz, DeviceInfo("virtual", profile="virtual"),
                             has_seq=True)
    n, t_end = 0, None
    clock_s = [0.0]
    with RecordingWriter(path, header, clock=lambda: clock_s[0]) as w:
        for pkt in sensor.packets():
            if t_end is None:
                t_end = float(pkt.time_s[0]) + hours * 3600.0
            clock_s[0] = float(pkt.time_s[-1])  # the writer's clock follows the samples
            w.write_samples(pkt)
            n += len(pkt)
            if pkt.time_s[-1] >= t_end:
                break
    return n


def run_pipeline_replay(path: Path, rate_hz: float, every_min: float) -> tuple[list[Sample], int]:
    """Feed the recording through a Pipeline chunk by chunk, as a streaming replay does."""
    from imu.pipeline import Pipeline

    pipe = Pipeline(rate_hz)
    samples: list[Sample] = []
    cpu0 = time.process_time()
    items, t0, next_min = 0, None, 0.0
    for rec in iter_recording(path):
        if not isinstance(rec, SampleBlock) or len(rec) == 0:
            continue
        t0 = float(rec.time_s[0]) if t0 is None else t0
        items += len(pipe.feed(rec).events)
        sim_min = (float(rec.time_s[-1]) - t0) / 60.0
        if sim_min >= next_min:
            gc.collect()
            samples.append(Sample(round(sim_min, 1), rss_mb(), time.process_time() - cpu0, items))
            next_min += every_min
    items += len(pipe.finish())
    gc.collect()
    samples.append(Sample(round(sim_min, 1), rss_mb(), time.process_time() - cpu0, items))
    return samples, items


def run_dashboard_replay(path: Path, hours: float, every_min: float, folder: Path
                         ) -> tuple[float, float, float, list[tuple[float, float, float]]]:
    """(RSS before, RSS after analysis, analysis seconds, [(minute, seek ms, RSS)])."""
    from dashboard.app import create_app
    from dashboard.config import DashboardConfig

    app = create_app(DashboardConfig(recordings_dir=path.parent))
    calls = PageCalls(app.dash)
    gc.collect()
    before = rss_mb()
    t0 = time.perf_counter()
    data = app.library.get(path, path.name)
    analysed_s = time.perf_counter() - t0
    gc.collect()
    after = rss_mb()
    points = []
    for minute in np.arange(0.0, hours * 60.0 + 1e-9, every_min):
        pos = min(float(minute) * 60.0, data.duration_s)
        ms = replay_seek_seconds(calls, path.name, data.duration_s, pos) * 1e3
        gc.collect()
        points.append((float(minute), ms, rss_mb()))
    return before, after, analysed_s, points


# --------------------------------------------------------------------------- report

def growth_after_warmup(samples: Sequence[Sample]) -> tuple[float, float]:
    """(RSS at the end of warm-up, growth from there to the largest later RSS), MB."""
    warm = next(s for s in samples if s.sim_min >= WARMUP_MIN)
    later = [s.rss_mb for s in samples if s.sim_min >= warm.sim_min]
    return warm.rss_mb, max(later) - warm.rss_mb


def print_samples(title: str, samples: Sequence[Sample], ticks: bool) -> None:
    print(f"\n{title}")
    head = f"{'sim min':>8} {'RSS MB':>8} {'CPU s':>8} {'items':>8}"
    print(head + (f" {'chart tick ms (CPU)':>20} {'panels tick ms (CPU)':>21}" if ticks else ""))
    for s in samples:
        line = f"{s.sim_min:8.1f} {s.rss_mb:8.1f} {s.cpu_s:8.1f} {s.kept_items:8d}"
        print(line + (f" {s.chart_tick_ms:11.1f} ({s.chart_tick_cpu_ms:5.1f}) "
                      f"{s.panels_tick_ms:12.1f} ({s.panels_tick_cpu_ms:5.1f})" if ticks else ""))


def child(kind: str, hours: float, every_min: float, recording: str) -> dict:
    """Run one path in this (fresh) process and return its figures as JSON-able data."""
    with tempfile.TemporaryDirectory(prefix="pm-long-") as tmp:
        folder = Path(tmp)
        if kind == "live":
            samples, kept, totals = run_live(loop_session(), hours, every_min, folder)
            covered_h = samples[-1].sim_min / 60.0 * len(kept) / max(totals["items_reported"], 1)
            kinds, bytes_h = items_per_hour(kept, covered_h)
            return {"samples": [asdict(x) for x in samples], "totals": totals,
                    "items_per_hour": dict(kinds), "item_bytes_per_hour": bytes_h}
        if kind == "pipeline":
            samples, items = run_pipeline_replay(Path(recording), RATE_HZ, every_min)
            return {"samples": [asdict(x) for x in samples], "items": items}
        before, after, analysed_s, points = run_dashboard_replay(Path(recording), hours,
                                                                 every_min, folder)
        return {"rss_before_mb": before, "rss_after_mb": after, "analysed_s": analysed_s,
                "points": points}


def run_child(kind: str, hours: float, every_min: float, recording: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.long_session", "--child", kind,
                          "--hours", str(hours), "--every-min", str(every_min),
                          "--recording", str(recording)], cwd=str(ROOT),
                         capture_output=True, text=True)
    line = next((x for x in out.stdout.splitlines() if x.startswith(RESULT_TAG)), None)
    if out.returncode or line is None:
        raise RuntimeError(f"the {kind} run failed: {out.stderr[-3000:]}")
    return json.loads(line[len(RESULT_TAG):])


def report_live(r: dict, hours: float) -> bool:
    samples = [Sample(**x) for x in r["samples"]]
    print_samples(f"live: LiveStream + page callbacks, {hours:g} h unpaced (own process)",
                  samples, True)
    warm, growth = growth_after_warmup(samples)
    first = next(s for s in samples if s.sim_min >= WARMUP_MIN)
    cpu_h = (samples[-1].cpu_s - samples[0].cpu_s) / max(samples[-1].sim_min / 60.0, 1e-9)
    print(f"RSS after warm-up {warm:.1f} MB, growth {growth:+.1f} MB (limit "
          f"{LIMIT_GROWTH_MB:g}); CPU {cpu_h:.0f} s per simulated hour (stream + callbacks)")
    last = samples[-1]
    print(f"callback CPU at the end vs after warm-up: chart tick "
          f"x{last.chart_tick_cpu_ms / first.chart_tick_cpu_ms:.2f}, panels tick "
          f"x{last.panels_tick_cpu_ms / first.panels_tick_cpu_ms:.2f} (the slow tick "
          f"comes every 500 ms)")
    print(f"the live panels show {r['totals']['flags_shown']} flags; the stream reported "
          f"{r['totals']['flags_reported']} (the panels count the kept items only)")
    print(f"buffers: {json.dumps(r['totals'])}")
    print(f"analysis items per hour: {r['items_per_hour']}; "
          f"{r['item_bytes_per_hour'] / 1e6:.2f} MB per hour as Python objects")
    return growth < LIMIT_GROWTH_MB


def report_pipeline(r: dict) -> bool:
    samples = [Sample(**x) for x in r["samples"]]
    print_samples("pipeline replay: iter_recording -> Pipeline (own process)", samples, False)
    warm, growth = growth_after_warmup(samples)
    cpu_h = samples[-1].cpu_s / max(samples[-1].sim_min / 60.0, 1e-9)
    print(f"RSS after warm-up {warm:.1f} MB, growth {growth:+.1f} MB; CPU {cpu_h:.0f} s per "
          f"simulated hour; {r['items']:,} analysis items")
    return growth < LIMIT_GROWTH_MB


def report_replay(r: dict, hours: float) -> bool:
    held = r["rss_after_mb"] - r["rss_before_mb"]
    print(f"\ndashboard replay (own process): analysing the file took {r['analysed_s']:.1f} s "
          f"and {held:+.0f} MB ({held / hours:.0f} MB per hour of session, by design: the "
          "view holds the whole analysis; the library caches up to 4 files)")
    print(f"{'position min':>12} {'seek CPU ms':>11} {'RSS MB':>8}")
    for minute, ms, rss in r["points"]:
        print(f"{minute:12.0f} {ms:11.1f} {rss:8.1f}")
    points = r["points"]
    growth = max(p[2] for p in points) - points[0][2]
    ref = next((p[1] for p in points if p[0] >= WARMUP_MIN), points[0][1])
    print(f"RSS growth while playing: {growth:+.1f} MB; seek at the end vs after warm-up "
          f"x{points[-1][1] / ref:.2f}")
    return growth < LIMIT_GROWTH_MB


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--every-min", type=float, default=SAMPLE_EVERY_MIN)
    ap.add_argument("--child", choices=("live", "pipeline", "replay"), help=argparse.SUPPRESS)
    ap.add_argument("--recording", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(RESULT_TAG + json.dumps(child(args.child, args.hours, args.every_min,
                                            args.recording)))
        return 0
    with tempfile.TemporaryDirectory(prefix="pm-long-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        result = loop_session()
        print(f"simulated the {len(result.block) / result.rate_hz / 60:.1f}-minute loop in "
              f"{time.perf_counter() - t0:.1f} s; the virtual sensor loops it to {args.hours:g} h")
        ok = report_live(run_child("live", args.hours, args.every_min, folder), args.hours)
        rec = folder / "long.pmrec"
        t0 = time.perf_counter()
        n = write_session(result, args.hours, rec)
        print(f"\nwrote {n:,} samples ({rec.stat().st_size / 1e6:.1f} MB) in "
              f"{time.perf_counter() - t0:.1f} s")
        ok = report_pipeline(run_child("pipeline", args.hours, args.every_min, rec)) and ok
        ok = report_replay(run_child("replay", args.hours, args.every_min, rec), args.hours) and ok
    print("\nRESULT:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
