"""The live view's screen updates: pacing, payload, bounded page state.

The pure rules are checked directly; the page behaviour (self-paced Interval, chart
window trimmed by maxPoints, undo history trimmed, a lost response re-armed, the flag
feed capped) in headless Chromium against a server streaming the virtual sensor fast.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from dash import no_update

from dashboard import theme
from dashboard.figures import angles_figure
from dashboard.headless import find_browser
from dashboard.live_updates import (HISTORY_KEEP, MIN_PAUSE_MS, MIN_PERIOD_MS, NUMBERS_EVERY_S,
                                    STALL_MS, changed_only, next_max_intervals, next_pause_ms,
                                    numbers_due)
from dashboard.panel_data import FLAGS_SHOWN
from dashboard.stream import DISPLAY_RATE_HZ


def test_the_interval_may_fire_once_more_per_response():
    assert next_max_intervals(None) == 1  # the initial call, before any tick
    assert next_max_intervals(0) == 1
    assert next_max_intervals(41) == 42


def test_the_pause_caps_the_rate_and_yields_to_a_slow_round_trip():
    assert next_pause_ms(None, 10) == 10                 # no round trip known yet
    # Fast page: 10 ms of round trip + redraw -> wait the rest of the 33 ms period.
    assert next_pause_ms(0.020, 10) == 25                # 33 - 10 = 23, in 5 ms steps
    assert next_pause_ms(0.020 + 0.015, 25) == 25        # the same work: the same pause
    # Slow page: 60 ms of work -> ask again at once (the least pause).
    assert next_pause_ms(0.070, 10) == MIN_PAUSE_MS
    assert next_pause_ms(0.001, 1) == MIN_PERIOD_MS      # never longer than the period
    assert next_pause_ms(-1.0, 15) == 15                 # a clock step: keep the pause


def test_big_numbers_are_sent_at_most_ten_times_a_second():
    assert numbers_due(100.0, None)
    assert not numbers_due(100.0 + NUMBERS_EVERY_S / 2, 100.0)
    assert numbers_due(100.0 + NUMBERS_EVERY_S * 1.01, 100.0)
    assert numbers_due(99.0, 100.0)  # the clock went back (another server process)


def test_only_the_readouts_that_changed_are_sent():
    before = ["1.0°", {"color": "#009E73"}, "anterior"]
    now = ["1.2°", {"color": "#009E73"}, "anterior"]
    assert changed_only(now, before) == ["1.2°", no_update, no_update]
    assert changed_only(now, None) == now                # a new page shows nothing yet
    assert changed_only(now, before[:2]) == now          # another layout: send all


def test_every_band_colour_has_a_band_trace_after_the_angle_traces():
    fig = angles_figure()
    assert [t.get("meta") for t in fig["data"][:3]] == [None] * 3  # extendData's [0, 1, 2]
    band_colours = {t["meta"]["band"] for t in fig["data"][3:]}
    assert {theme.side_colour(side) for side in ("left", "right", None)} <= band_colours
    assert all(t["yaxis"] == "y2" for t in fig["data"][3:])
    assert fig["layout"]["yaxis2"]["range"] == [0, 1]  # band heights are plot fractions


# ---------------------------------------------------------------- in the browser
browser_needed = pytest.mark.skipif(find_browser() is None,
                                    reason="needs chromium + chromium-driver "
                                           "(make test installs them)")
SPEED = 6.0
"""The virtual sensor runs 6x real time: the chart window and the flag feed fill in
seconds (the page draws more points per update, the same number of updates)."""

# A component's props as the renderer holds them (its layout, found by the id's path).
PROPS_JS = """
const st = window.store.getState(), path = st.paths.strs[arguments[0]];
let node = st.layout;
for (const key of path) { node = node[key]; }
return node.props;
"""
# Points held by each angle trace of the live chart (the band traces have meta.band).
POINTS_JS = ("const g = document.querySelector('#live-angles-graph .js-plotly-plot');"
             "return g && g.data ? g.data.filter(t => !(t.meta && t.meta.band))"
             ".map(t => t.x.length) : [];")
# Fails the next screen-update request as a dropped connection would.
DROP_NEXT_UPDATE_JS = """
const realFetch = window.fetch;
window.pmDropped = 0;
window.fetch = function(url, opts) {
    if (!window.pmDropped && opts && typeof opts.body === 'string'
            && opts.body.indexOf('live-tick.max_intervals') >= 0) {
        window.pmDropped = 1;
        window.fetch = realFetch;
        return Promise.reject(new TypeError('dropped by the test'));
    }
    return realFetch.apply(this, arguments);
};
"""


def tick(driver) -> tuple[int, int]:
    """(n_intervals, max_intervals) of the live view's fast Interval."""
    props = driver.execute_script(PROPS_JS, "live-tick")
    return props.get("n_intervals") or 0, props.get("max_intervals")


def wait_for(*args, **kw):
    """tests.test_dashboard_browser.wait_for (imported late: that module needs selenium)."""
    from tests.test_dashboard_browser import wait_for as wait

    return wait(*args, **kw)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    pytest.importorskip("selenium")
    from dashboard.app import DashboardServer
    from dashboard.config import DashboardConfig
    from dashboard.headless import chromium

    folder: Path = tmp_path_factory.mktemp("recordings")
    cfg = DashboardConfig(port=0, recordings_dir=folder, open_source="virtual:lunges-unstable",
                          virtual_speed=SPEED)
    server = DashboardServer(cfg).start()
    try:
        with chromium() as driver:
            driver.get(server.url)
            wait_for(lambda: driver.execute_script(POINTS_JS), what="the live chart")
            yield driver, cfg
    finally:
        server.stop()


@browser_needed
def test_updates_are_self_paced_and_keep_coming(page):
    driver, _ = page
    samples = []
    for _ in range(30):
        samples.append(tick(driver))
        time.sleep(0.1)
    ahead = {mx - n for n, mx in samples}
    assert ahead <= {0, 1}, f"the Interval ran ahead of the responses: {samples}"
    assert samples[-1][0] - samples[0][0] >= 10, f"too few updates in 3 s: {samples}"


@browser_needed
def test_chart_window_and_undo_history_stay_bounded(page):
    driver, cfg = page
    window_points = int(cfg.window_s * DISPLAY_RATE_HZ)
    wait_for(lambda: driver.execute_script(POINTS_JS) == [window_points] * 3, 30,
             f"the chart to hold its full {window_points}-point window")
    for _ in range(10):
        assert max(driver.execute_script(POINTS_JS)) <= window_points
        time.sleep(0.2)
    # Trimmed every 0.5 s; at most ~30 ticks (and a few clicks) arrive in between.
    history = driver.execute_script("return window.store.getState().history.past.length;")
    assert history <= HISTORY_KEEP + 30


@browser_needed
def test_rep_bands_are_drawn_into_the_band_traces(page):
    driver, _ = page
    band_points = ("const g = document.querySelector('#live-angles-graph .js-plotly-plot');"
                   "return g.data.filter(t => t.meta && t.meta.band)"
                   ".reduce((n, t) => n + (t.x || []).length, 0);")
    # lunges-unstable does reps from about 20 s in (under 4 s here): one rectangle each.
    assert wait_for(lambda: driver.execute_script(band_points), 30, "a rep band") % 6 == 0


@browser_needed
def test_a_lost_update_is_re_armed(page):
    driver, _ = page
    driver.execute_script(DROP_NEXT_UPDATE_JS)
    wait_for(lambda: driver.execute_script("return window.pmDropped;"), 5, "an update to drop")
    stalled_at = tick(driver)[0]
    wait_for(lambda: tick(driver)[0] > stalled_at + 5,
             STALL_MS / 1000 + 5, "updates to resume after the lost response")
    assert driver.execute_script("return window.pmFastRearms || 0;") >= 1


@browser_needed
def test_flag_feed_is_capped(page):
    driver, _ = page
    wait_for(lambda: (driver.execute_script(PROPS_JS, "live-flag-count").get("data") or 0)
             > FLAGS_SHOWN,
             60, f"more than {FLAGS_SHOWN} flags to be reported")
    shown = driver.execute_script("return document.querySelectorAll('#live-flags li').length;")
    assert 0 < shown <= FLAGS_SHOWN
