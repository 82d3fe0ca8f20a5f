"""Live-view transports, measured in the real browser (headless Chromium).

Each transport streams the virtual sensor (run-asymmetric, 200 Hz, a packet of six
samples every 30 ms) through the whole live page: big numbers, pelvis picture,
chart, slow panels. The page is instrumented to record, at every redraw of the angle
chart that brings new samples, the sample-to-screen latency: from when the newest
drawn sample reached the server (it entered the pipeline) to the animation frame
after plotly's `afterplot` (the frame that shows it). Updates/s counts those redraws.
After a warm-up that fills the page (the chart's 15 s window, the last 24 strides,
the last 12 flags), the JS heap is sampled every 10 s (the least of three readings,
each after a forced garbage collection); growth per minute is the least-squares
slope (with its standard error: the heap after a forced collection still saws up
and down by ~2 MB, so one minute bounds the slope only to about +-1 MB/min; a
longer --seconds narrows it). The DOM element count and the renderer's undo-history
length are reported too: they show directly whether anything on the page keeps
growing.

Transports, each in its own process (a page that stops responding is killed and
reported as stalled):
  interval        self-paced dcc.Interval + one lean callback returning extendData
                  (what the dashboard ships; dashboard/live_updates.py)
  interval-40ms   the same callback on a free-running 40 ms Interval (the pacing
                  used before: responses that arrive after the next tick are dropped)
  ws-store        Dash 4 WebSocket callbacks (FastAPI backend): a persistent
                  callback pushes into a dcc.Store, a clientside callback extends
  ws-graph        the same push straight into dcc.Graph.extendData
Targets: >= 20 updates/s, p95 <= 150 ms, heap growth ~0.

    python -m bench.dashboard_latency [--seconds 60] [--warmup 90] [--only interval,ws-store]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PRESET = "virtual:run-asymmetric"
WARMUP_S = 90.0
"""run-asymmetric calibrates, then runs: by 90 s the chart window, the stride bars and
the flag feed are full (measured: the DOM stops growing after ~80 s), so what the
heap does afterwards is growth, not the page filling up."""
HEAP_EVERY_S = 10.0
"""Heap samples force a garbage collection, which stalls the page: not too often."""
HEAP_READINGS = 3
"""Readings per heap sample; the least is kept (a reading can catch an update's
garbage being made)."""
MARK = "PMBENCH "
"""Prefix of the child's JSON lines on stdout (anything else there is ignored)."""
STALL_S = 45.0
"""A transport that reports no progress for this long has frozen the page."""
TARGET_RATE = 20.0
TARGET_P95_MS = 150.0
FLAT_HEAP_MB_PER_MIN = 0.5
"""The heap counts as flat when its growth is not shown to exceed this (slope minus two
standard errors). A slow leak (the untrimmed undo history adds one small entry per
update) needs a longer run to show in the heap; the undo and DOM columns show such
growth directly."""
TRANSPORTS = {
    "interval": "Interval self-paced + extendData",
    "interval-40ms": "Interval every 40 ms + extendData",
    "ws-store": "WebSocket push -> Store -> clientside",
    "ws-graph": "WebSocket push -> Graph.extendData",
}
REFERENCE = "interval"

INSTRUMENT_JS = """
const gd = document.querySelector('#live-angles-graph .js-plotly-plot');
if (!gd || !gd._fullLayout) { return false; }
window.pmBench = {lat: [], t: [], last: ''};
gd.on('plotly_afterplot', () => {
    const s = document.getElementById('live-stamp').title;
    if (!s || s === window.pmBench.last) { return; }   // a relayout, not new samples
    window.pmBench.last = s;
    requestAnimationFrame(() => {
        window.pmBench.lat.push(Date.now() - parseFloat(s));
        window.pmBench.t.push(performance.now());
    });
});
return true;
"""


@dataclass
class Result:
    name: str
    updates_per_s: float
    p50_ms: float
    p95_ms: float
    heap_start_mb: float
    heap_end_mb: float
    heap_growth_mb_per_min: float
    heap_growth_se_mb_per_min: float
    """Standard error of the slope: the heap saws up and down by ~2 MB (V8), so a
    minute's slope is only known to about this."""
    elements_start: int
    elements_end: int
    undo_history_end: int
    page_cpu_percent: float
    server_cpu_percent: float
    load_avg: float
    seconds: float


# ------------------------------------------------------------------ one transport (child)
def _start_server(name: str, folder: Path):
    from dashboard.config import DashboardConfig

    cfg = DashboardConfig(port=0, recordings_dir=folder, open_source=PRESET)
    if name.startswith("ws-"):
        from bench.dashboard_ws import WsLiveServer
        return WsLiveServer(cfg, name.removeprefix("ws-")).start()
    if name == "interval-40ms":
        # The pacing used before, for comparison: a free-running 40 ms Interval.
        import dashboard.layout_live as layout_live
        import dashboard.live_updates as live_updates
        layout_live.UPDATE_PAUSE_MS = 40
        live_updates.next_max_intervals = lambda _n: -1
        live_updates.next_pause_ms = lambda _cycle, _pause: 40
    from dashboard.app import DashboardServer
    return DashboardServer(cfg).start()


def _heap_mb(driver) -> float:
    """Used JS heap after a forced garbage collection (least of HEAP_READINGS)."""
    readings = []
    for _ in range(HEAP_READINGS):
        driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
        readings.append(driver.execute_cdp_cmd("Runtime.getHeapUsage", {})["usedSize"] / 1e6)
        time.sleep(0.25)
    return min(readings)


PAGE_COUNTS_JS = """
const st = window.store && window.store.getState && window.store.getState();
return [document.getElementsByTagName('*').length,
        st && st.history && st.history.past ? st.history.past.length : -1];
"""


def _task_s(driver) -> float:
    """Seconds the page's main thread has been busy (CDP Performance metrics)."""
    metrics = driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
    return next(m["value"] for m in metrics if m["name"] == "TaskDuration")


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _say(**kw) -> None:
    print(MARK + json.dumps(kw), flush=True)


def measure_one(name: str, seconds: float, warmup_s: float) -> None:
    """Measure one transport in this process; progress and result go to stdout."""
    from dashboard.headless import chromium

    folder = Path(tempfile.mkdtemp(prefix="pm-bench-"))
    server = _start_server(name, folder)
    try:
        with chromium() as driver:
            driver.get(server.url)
            end = time.monotonic() + 30
            while not driver.execute_script(INSTRUMENT_JS):
                if time.monotonic() > end:
                    raise RuntimeError("the live chart did not appear within 30 s")
                time.sleep(0.2)
            _say(progress="warm-up")
            time.sleep(warmup_s)
            driver.execute_cdp_cmd("Performance.enable", {})
            heaps, loads = [(0.0, _heap_mb(driver))], [os.getloadavg()[0]]
            counts0 = driver.execute_script(PAGE_COUNTS_JS)
            task0, cpu0 = _task_s(driver), _cpu_s()
            driver.execute_script("window.pmBench.lat = []; window.pmBench.t = [];")
            start = time.monotonic()
            while (elapsed := time.monotonic() - start) < seconds:
                time.sleep(min(HEAP_EVERY_S, seconds - elapsed))
                heaps.append((time.monotonic() - start, _heap_mb(driver)))
                loads.append(os.getloadavg()[0])
                _say(progress=round(heaps[-1][0]),
                     updates=driver.execute_script("return window.pmBench.t.length;"))
            wall = time.monotonic() - start
            task1, cpu1 = _task_s(driver), _cpu_s()
            counts1 = driver.execute_script(PAGE_COUNTS_JS)
            lat = driver.execute_script("return window.pmBench.lat;")
            t = driver.execute_script("return window.pmBench.t;")
    finally:
        server.stop()
    if len(t) < 2:
        raise RuntimeError(f"{len(t)} chart updates in {seconds:.0f} s: the transport stalled")
    hx, hy = np.array(heaps).T
    (slope, _), cov = np.polyfit(hx / 60.0, hy, 1, cov=True)
    _say(result=asdict(Result(
        name, (len(t) - 1) / ((t[-1] - t[0]) / 1000), float(np.percentile(lat, 50)),
        float(np.percentile(lat, 95)), float(hy[0]), float(hy[-1]),
        float(slope), float(np.sqrt(cov[0, 0])), int(counts0[0]), int(counts1[0]),
        int(counts1[1]), 100 * (task1 - task0) / wall, 100 * (cpu1 - cpu0) / wall,
        float(np.mean(loads)), wall)))


# ------------------------------------------------------------------ the run (parent)
def unavailable_reason(name: str) -> str | None:
    """Why a transport cannot run with the installed packages (None when it can)."""
    if not name.startswith("ws-"):
        return None
    from importlib.metadata import version
    from importlib.util import find_spec

    if find_spec("fastapi") is None or find_spec("uvicorn") is None:
        return ('WebSocket callbacks need an async backend: pip install "dash[fastapi]" '
                '(the bench extra)')
    from dash.backends import _fastapi
    if not getattr(_fastapi.FastAPIDashServer, "websocket_capability", False):
        return f"dash {version('dash')} has no WebSocket callbacks (they came in 4.2)"
    return None


def _descendants(pid: int) -> list[int]:
    """Every process started (directly or not) by `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _kill_tree(proc: subprocess.Popen) -> None:
    for pid in [*_descendants(proc.pid), proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def run_transport(name: str, seconds: float, warmup_s: float) -> Result | str:
    """A Result, or the reason there is none (unavailable, stalled, failed)."""
    reason = unavailable_reason(name)
    if reason:
        return f"not available: {reason}"
    errors = tempfile.TemporaryFile(mode="w+")  # a file: a full pipe would block the child
    proc = subprocess.Popen([sys.executable, "-m", "bench.dashboard_latency", "--one", name,
                             "--seconds", str(seconds), "--warmup", str(warmup_s)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=errors, text=True)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline, last = time.monotonic() + 60 + STALL_S, "starting"
    while True:
        if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
            _kill_tree(proc)
            return (f"stalled: the page stopped responding (no progress for {STALL_S:.0f} s "
                    f"after '{last}')")
        line = proc.stdout.readline()
        if not line:
            break
        if not line.startswith(MARK):
            continue
        msg = json.loads(line[len(MARK):])
        if "result" in msg:
            proc.wait()
            return Result(**msg["result"])
        last = f"{msg['progress']} s" if isinstance(msg["progress"], int) else msg["progress"]
        deadline = time.monotonic() + STALL_S + (warmup_s if last == "warm-up" else 0)
    proc.wait()
    errors.seek(0)
    err = errors.read().strip().splitlines()
    return f"failed: {err[-1] if err else f'exit code {proc.returncode}'}"


def print_table(results: dict[str, Result | str], seconds: float, warmup_s: float) -> None:
    ref = results.get(REFERENCE)
    print(f"\nLive page in headless Chromium, {seconds:.0f} s measured per transport after a "
          f"{warmup_s:.0f} s warm-up\n(virtual sensor 200 Hz, chart 3 traces x 750 points; "
          f"page% = browser main thread busy, srv% = server process CPU, load = 1-min load "
          f"average of this 2-core machine during the run)")
    print(f"{'transport':<38} {'upd/s':>6} {'x ref':>6} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'p95 x':>6} {'heap start/end MB':>18} {'MB/min +-se':>12} {'DOM elements':>12} "
          f"{'undo':>5} {'page%':>6} {'srv%':>5} {'load':>5}")
    for name, r in results.items():
        label = f"{TRANSPORTS[name]}"
        if isinstance(r, str):
            print(f"{label:<38} {r}")
            continue
        rate_x = r.updates_per_s / ref.updates_per_s if isinstance(ref, Result) else float("nan")
        p95_x = r.p95_ms / ref.p95_ms if isinstance(ref, Result) else float("nan")
        print(f"{label:<38} {r.updates_per_s:6.1f} {rate_x:6.2f} {r.p50_ms:7.0f} {r.p95_ms:7.0f} "
              f"{p95_x:6.2f} {r.heap_start_mb:8.1f} /{r.heap_end_mb:6.1f}   "
              f"{r.heap_growth_mb_per_min:+6.2f} +-{r.heap_growth_se_mb_per_min:4.2f} "
              f"{r.elements_start:6d}>{r.elements_end:<5d} "
              f"{r.undo_history_end:5d} {r.page_cpu_percent:6.0f} {r.server_cpu_percent:5.0f} "
              f"{r.load_avg:5.1f}")
    print(f"targets: updates/s >= {TARGET_RATE:.0f}, p95 <= {TARGET_P95_MS:.0f} ms, heap growth "
          f"not shown above {FLAT_HEAP_MB_PER_MIN} MB/min (slope - 2 se); 'x ref' and 'p95 x' "
          f"are ratios to {TRANSPORTS[REFERENCE]}")
    for name, r in results.items():
        if isinstance(r, Result):
            missed = [what for what, ok in (
                ("rate", r.updates_per_s >= TARGET_RATE), ("p95", r.p95_ms <= TARGET_P95_MS),
                ("heap", r.heap_growth_mb_per_min - 2 * r.heap_growth_se_mb_per_min
                 <= FLAT_HEAP_MB_PER_MIN)) if not ok]
            verdict = "misses: " + ", ".join(missed) if missed else "meets all targets"
            print(f"  {TRANSPORTS[name]:<38} {verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="measured seconds per transport")
    ap.add_argument("--warmup", type=float, default=WARMUP_S,
                    help="seconds of streaming before measuring (the page fills up)")
    ap.add_argument("--only", default=",".join(TRANSPORTS),
                    help="comma-separated transports (default: all)")
    ap.add_argument("--one", choices=list(TRANSPORTS), help=argparse.SUPPRESS)  # child mode
    args = ap.parse_args()
    if args.one:
        measure_one(args.one, args.seconds, args.warmup)
        return
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in TRANSPORTS]
    if unknown:
        ap.error(f"unknown transport(s) {unknown}; choose from {list(TRANSPORTS)}")
    results: dict[str, Result | str] = {}
    for name in names:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        results[name] = run_transport(name, args.seconds, args.warmup)
    print_table(results, args.seconds, args.warmup)


if __name__ == "__main__":
    main()
