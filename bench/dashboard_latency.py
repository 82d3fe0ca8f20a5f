"""Live-view transport, measured in the real browser (headless Chromium).

The dashboard streams the virtual sensor in real time; the page is instrumented to
record, at every redraw of the angle chart (plotly's `afterplot`), the time since
the newest drawn sample reached the server (sample-to-screen latency), and how many
redraws happen per second. The browser's JS heap is sampled (after a forced garbage
collection) over the run to show whether memory stays bounded.

Transports compared in the same run:
  A40  dcc.Interval every 40 ms + extendData (what the dashboard uses)
  A50  the same at 50 ms (reference)
Targets: >= 20 updates/s, p95 latency <= 150 ms, flat heap.

    python -m bench.dashboard_latency [--seconds 60]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dashboard.app import DashboardServer
from dashboard.config import DashboardConfig
from dashboard.headless import chromium

PRESET = "virtual:run-asymmetric"
HEAP_EVERY_S = 10.0
"""Heap samples force a garbage collection, which stalls the page: not too often."""

INSTRUMENT_JS = """
const gd = document.querySelector('#live-angles-graph .js-plotly-plot');
if (!gd) { return false; }
window.pmBench = {lat: [], t: [], last: ''};
gd.on('plotly_afterplot', () => {
    const s = document.getElementById('live-stamp').textContent;
    if (!s || s === window.pmBench.last) { return; }   // a relayout, not new samples
    window.pmBench.last = s;
    window.pmBench.lat.push(Date.now() - parseFloat(s));
    window.pmBench.t.push(performance.now());
});
return true;
"""


@dataclass
class Result:
    name: str
    updates_per_s: float
    p50_ms: float
    p95_ms: float
    heap_first_mb: float
    heap_last_mb: float
    heap_max_mb: float


def heap_mb(driver) -> float:
    driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
    return driver.execute_cdp_cmd("Runtime.getHeapUsage", {})["usedSize"] / 1e6


def measure(name: str, interval_ms: int, seconds: float) -> Result:
    folder = Path(tempfile.mkdtemp(prefix="pm-bench-"))
    cfg = DashboardConfig(port=0, recordings_dir=folder, open_source=PRESET,
                          live_interval_ms=interval_ms)
    server = DashboardServer(cfg).start()
    try:
        with chromium() as driver:
            driver.get(server.url)
            end = time.monotonic() + 30
            while not driver.execute_script(INSTRUMENT_JS):
                if time.monotonic() > end:
                    raise RuntimeError("the live chart did not appear")
                time.sleep(0.2)
            time.sleep(3.0)  # warm-up: the window fills, then measure
            driver.execute_script("window.pmBench.lat = []; window.pmBench.t = [];")
            heaps = [heap_mb(driver)]
            start = time.monotonic()
            while time.monotonic() - start < seconds:
                time.sleep(min(HEAP_EVERY_S, seconds))
                heaps.append(heap_mb(driver))
            lat = driver.execute_script("return window.pmBench.lat;")
            t = driver.execute_script("return window.pmBench.t;")
    finally:
        server.stop()
    span_s = (t[-1] - t[0]) / 1000 if len(t) > 1 else float("nan")
    return Result(name, (len(t) - 1) / span_s, float(np.percentile(lat, 50)),
                  float(np.percentile(lat, 95)), heaps[0], heaps[-1], max(heaps))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="measured seconds per transport")
    args = ap.parse_args()
    results = [measure("A40  Interval 40 ms + extendData", 40, args.seconds),
               measure("A50  Interval 50 ms + extendData", 50, args.seconds)]
    ref = results[1]
    print(f"\nLive view in headless Chromium, {args.seconds:.0f} s per transport "
          f"(virtual sensor at 200 Hz, drawn at 50 Hz, 3 traces x 750 points)")
    print(f"{'transport':<36} {'updates/s':>9} {'x ref':>6} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'heap first/last/max MB':>24}")
    for r in results:
        print(f"{r.name:<36} {r.updates_per_s:9.1f} {r.updates_per_s / ref.updates_per_s:6.2f} "
              f"{r.p50_ms:7.1f} {r.p95_ms:7.1f} "
              f"{r.heap_first_mb:8.1f}/{r.heap_last_mb:.1f}/{r.heap_max_mb:.1f}")
    chosen = results[0]
    ok = chosen.updates_per_s >= 20 and chosen.p95_ms <= 150
    print(f"\ntarget (>= 20 updates/s, p95 <= 150 ms): {'met' if ok else 'NOT met'} by "
          f"{chosen.name.split()[0]}; heap change over the run "
          f"{chosen.heap_last_mb - chosen.heap_first_mb:+.1f} MB")


if __name__ == "__main__":
    main()
