"""The dashboard in a real browser (Debian's headless Chromium through selenium).

One server and one browser for the module keep the wall time short. The server
streams the virtual sensor 4x faster than real time, so calibration completes in a
few seconds. Screenshots go to test-artifacts/ (gitignored).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from dashboard.headless import find_browser

pytestmark = pytest.mark.skipif(find_browser() is None,
                                reason="needs chromium + chromium-driver (make test installs them)")
selenium = pytest.importorskip("selenium")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

from dashboard.app import DashboardServer  # noqa: E402
from dashboard.config import DashboardConfig  # noqa: E402
from dashboard.headless import chromium  # noqa: E402
from dashboard.panels import rep_row_values  # noqa: E402
from dashboard.replay import settings_for  # noqa: E402
from imu.events.model import Flag, Rep  # noqa: E402
from imu.inputs import load_input  # noqa: E402
from imu.pipeline import analyze_samples  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
EXAMPLE = ROOT / "recordings" / "example-lunges.pmrec"
MAX_UPLOAD = 1_500_000
SPEED = 4.0


def wait_for(check, timeout_s: float = 20.0, what: str = "condition"):
    """Poll `check` until it returns a truthy value; fail with `what` on timeout."""
    end = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < end:
        try:
            last = check()
        except Exception as exc:  # noqa: BLE001 - the page may be mid-render; poll again
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {last!r})")


def text(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def points(driver, graph_id: str) -> int:
    return driver.execute_script(
        "const g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
        "return g && g.data ? g.data[0].x.length : 0;", graph_id)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("recordings")
    shutil.copy(EXAMPLE, d / EXAMPLE.name)
    return d


@pytest.fixture(scope="module")
def server(folder):
    cfg = DashboardConfig(port=0, recordings_dir=folder, open_source="virtual:lunges-unstable",
                          virtual_speed=SPEED, max_upload_bytes=MAX_UPLOAD)
    srv = DashboardServer(cfg).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads):
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium(height=1900, download_dir=downloads) as driver:
        yield driver


@pytest.fixture(scope="module")
def example_analysis():
    loaded = load_input(EXAMPLE)
    return analyze_samples(loaded.samples, loaded.rate_hz, settings_for(loaded))


def test_demo_streams_numbers_move_and_calibration_completes(server, browser):
    browser.get(server.url)
    wait_for(lambda: "streaming" in text(browser, "live-link"), what="the link to stream")
    wait_for(lambda: "Calibrated" in text(browser, "live-calibration"), 30,
             "the guided calibration to complete")
    wait_for(lambda: "°" in text(browser, "live-tilt"), what="a tilt value")
    seen = set()
    for _ in range(30):
        seen.add((text(browser, "live-tilt"), text(browser, "live-drop")))
        time.sleep(0.1)
    assert len(seen) > 3, f"the big numbers did not move: {seen}"
    n0 = points(browser, "live-angles-graph")
    time.sleep(1.0)
    assert points(browser, "live-angles-graph") > n0 or n0 >= 700  # scrolling (or full window)
    browser.save_screenshot(str(ARTIFACTS / "live.png"))


def test_recording_creates_a_file_that_analyze_reads(server, browser, folder):
    if "/replay" in browser.current_url or "Calibrated" not in text(browser, "live-calibration"):
        browser.get(server.url)
        wait_for(lambda: "Calibrated" in text(browser, "live-calibration"), 30, "calibration")
    before = set(folder.glob("session-*.pmrec"))
    browser.find_element(By.ID, "live-record").click()
    wait_for(lambda: "REC" in text(browser, "live-record-state"), what="recording to start")
    browser.find_element(By.ID, "live-annotate-text").send_keys("set 2 left")
    browser.find_element(By.ID, "live-annotate").click()
    wait_for(lambda: "set 2 left" in text(browser, "live-note-msg"), what="the note")
    time.sleep(1.5)
    browser.find_element(By.ID, "live-record").click()
    wait_for(lambda: "Saved" in text(browser, "live-note-msg"), what="the recording to stop")
    new = set(folder.glob("session-*.pmrec")) - before
    assert len(new) == 1
    loaded = load_input(new.pop())
    assert [a.text for a in loaded.annotations] == ["set 2 left"]
    analysis = analyze_samples(loaded.samples, loaded.rate_hz)
    # The recording starts with the calibration samples, so it calibrates on its own.
    assert analysis.calibrated, analysis.message


def open_replay(server, browser, name: str) -> None:
    browser.get(server.url + f"replay?file={name}")
    wait_for(lambda: name in text(browser, "replay-title"), 60, "the replay to load")


def seek(browser, seconds: float) -> None:
    """Type the position into the slider's box; it applies when the box loses focus."""
    box = browser.find_element(By.CSS_SELECTOR, "#replay-seek input[type=number]")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(f"{seconds:.1f}", Keys.TAB)


def position_s(browser) -> float:
    m, s = text(browser, "replay-position").split(" / ")[0].split(":")
    return int(m) * 60 + float(s)


def test_replay_play_pause_seek_speed(server, browser):
    open_replay(server, browser, EXAMPLE.name)
    browser.find_element(By.XPATH, "//label[contains(., '8×')]").click()
    browser.find_element(By.ID, "replay-play").click()
    wait_for(lambda: position_s(browser) > 4.0, what="playing at 8x to advance")
    browser.find_element(By.ID, "replay-play").click()
    paused = wait_for(lambda: "Play" in text(browser, "replay-play") and position_s(browser),
                      what="pause")
    time.sleep(0.5)
    assert position_s(browser) == pytest.approx(paused, abs=0.3)
    seek(browser, 150.0)
    wait_for(lambda: abs(position_s(browser) - 150.0) < 0.3, what="the seek")
    wait_for(lambda: "Calibrated" in text(browser, "replay-calibration"), what="calibrated at 150 s")
    assert points(browser, "replay-angles-graph") > 500  # the 15 s before the seek point
    browser.save_screenshot(str(ARTIFACTS / "replay.png"))


def test_replay_shows_the_reps_and_flags_that_analyze_reports(server, browser, example_analysis):
    open_replay(server, browser, EXAMPLE.name)
    end = float(example_analysis.time_s[-1] - example_analysis.time_s[0])
    seek(browser, end)
    wait_for(lambda: position_s(browser) > end - 0.5, what="the seek to the end")
    reps = [e for e in example_analysis.events if isinstance(e, Rep)]
    flags = [e for e in example_analysis.events if isinstance(e, Flag)]
    time.sleep(0.5)
    rows = [tuple(td.text for td in tr.find_elements(By.TAG_NAME, "td"))
            for tr in browser.find_elements(By.CSS_SELECTOR, "#replay-reps-table tr.rep-row")]
    if reps:
        last_set = [r for r in reps if r.set_index == reps[-1].set_index
                    and r.exercise == reps[-1].exercise]
        assert rows == [rep_row_values(r) for r in last_set]
    else:
        assert rows == []
    shown = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#replay-flags .flag-message")]
    assert shown == [f.message for f in reversed(flags[-len(shown):])] if flags else shown == []
    if not flags:
        pytest.skip("the events analysis reports no flags for the unstable lunge set yet")
    assert any(f.side == "left" for f in flags), "the left side was made unstable"
    assert len(shown) == min(len(flags), 12)


def test_html_report_opens_offline(server, browser, downloads):
    open_replay(server, browser, EXAMPLE.name)
    browser.find_element(By.ID, "replay-export-html").click()
    report = wait_for(lambda: next(iter(downloads.glob("*-report.html")), None), 60,
                      "the report download")
    wait_for(lambda: not list(downloads.glob("*.crdownload")), what="the download to finish")
    html = report.read_text(encoding="utf-8")
    tags = re.sub(r"(<script[^>]*>).*?</script>", r"\1", html, flags=re.S)  # drop script bodies
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", tags), "the report loads something"
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0})
    try:
        browser.get(report.as_uri())
        wait_for(lambda: browser.execute_script(
            "return !!window.Plotly && document.querySelectorAll('.js-plotly-plot .main-svg').length"),
            what="the report's plots to render offline")
        assert "Summary per segment and side" in browser.page_source
    finally:
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})


@pytest.mark.parametrize("attempt", ["../../../etc/passwd", "/etc/passwd", "..%2F..%2Fetc%2Fpasswd"])
def test_path_traversal_is_refused_with_a_message(server, browser, attempt):
    browser.get(server.url + f"replay?file={attempt}")
    msg = wait_for(lambda: text(browser, "replay-msg"), what="a refusal message")
    assert "Refused" in msg and "recordings folder" in msg
    assert text(browser, "replay-title") == ""


def upload(browser, path: Path) -> str:
    browser.find_element(By.CSS_SELECTOR, "#replay-upload input[type=file]").send_keys(str(path))
    return wait_for(lambda: (m := text(browser, "replay-msg")) and "Checking" not in m and m,
                    30, "the upload's verdict")


def test_oversized_and_garbage_uploads_are_refused(server, browser, tmp_path, folder):
    browser.get(server.url + "replay")
    wait_for(lambda: browser.find_element(By.ID, "replay-upload"), what="the replay page")
    big = tmp_path / "big.pmrec"
    big.write_bytes(os.urandom(MAX_UPLOAD + 10_000))
    assert "too large" in upload(browser, big)
    garbage = tmp_path / "garbage.pmrec"
    garbage.write_bytes(os.urandom(5000))
    msg = upload(browser, garbage)
    assert msg.startswith("Refused 'garbage.pmrec'"), msg
    bad_csv = tmp_path / "notes.csv"
    bad_csv.write_text("name,value\nfoo,1\n")
    assert "Refused 'notes.csv'" in upload(browser, bad_csv)
    assert not list(folder.glob("upload-*")), "refused uploads must not be kept"
    assert "Traceback" not in browser.page_source


def live_page(server, browser) -> None:
    if "/replay" in browser.current_url or not browser.find_elements(By.ID, "live-link"):
        browser.get(server.url)
    wait_for(lambda: "Calibrated" in text(browser, "live-calibration"), 30, "calibration")


# Counts the tones the page really starts (OscillatorNode.start), not the page's own tally.
COUNT_TONES_JS = """
window.pmToneStarts = 0;
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...a) { window.pmToneStarts += 1;
                                                   return start.apply(this, a); };
"""


def test_unstable_lunge_set_raises_flags_live_with_an_audio_cue(server, browser):
    live_page(server, browser)
    browser.execute_script(COUNT_TONES_JS)
    browser.find_element(By.XPATH, "//label[contains(., 'sound on new flag')]").click()
    flag_count = "return window.pmFlagCount || 0"  # the page's count (the feed shows 12)
    before = browser.execute_script(flag_count)
    # The virtual sensor streams lunges-unstable (left side made unstable) at 4x, looping.
    wait_for(lambda: browser.execute_script(flag_count) > before, 120,
             "a new flag in the live feed")
    messages = browser.execute_script(  # read in one go: the feed re-renders meanwhile
        "return [...document.querySelectorAll('#live-flags .flag-message')].map(e => e.innerText)")
    assert all(m.strip() for m in messages)
    assert any("left" in m.lower() for m in messages), messages
    tones = wait_for(lambda: browser.execute_script("return window.pmToneStarts"), 10,
                     "a tone for the new flag")
    assert tones >= 1
    assert browser.execute_script("return window.pmAudio.state") == "running"
    # Sound off: further flags stay silent.
    browser.find_element(By.XPATH, "//label[contains(., 'sound on new flag')]").click()
    silent_from = browser.execute_script("return window.pmToneStarts")
    n = browser.execute_script(flag_count)
    wait_for(lambda: browser.execute_script(flag_count) > n, 120, "another flag")
    assert browser.execute_script("return window.pmToneStarts") == silent_from


# Visible elements that stick out of the viewport sideways (inside a horizontal scroller,
# e.g. a wide table, is fine: the user can scroll it; so are plotly's text-measuring nodes,
# parked wholly off-screen on purpose).
OVERFLOW_JS = """
const w = document.documentElement.clientWidth, out = [];
for (const el of document.querySelectorAll('body *')) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0 || r.right <= 0 || el.closest('.wrap')) continue;
  if (r.right > w + 1 || r.left < -1) out.push((el.id || el.className || el.tagName) + ':' + Math.round(r.right));
}
return out.slice(0, 10);
"""


def test_live_view_fits_a_phone_screen(server):
    with chromium(width=390, height=844, phone=True) as phone:
        phone.get(server.url)
        wait_for(lambda: "°" in text(phone, "live-tilt"), 30, "a tilt value on the phone")
        assert phone.execute_script("return document.documentElement.clientWidth") == 390
        assert phone.execute_script(OVERFLOW_JS) == []
        sizes = phone.execute_script(
            "return ['live-tilt','live-drop','live-rotation'].map(i => { const r ="
            " document.getElementById(i).getBoundingClientRect(); return [r.left, r.right, r.top,"
            " parseFloat(getComputedStyle(document.getElementById(i)).fontSize)]; });")
        for left, right, top, font_px in sizes:
            assert 0 <= left and right <= 390, "a big number is cut off"
            assert top < 844, "the big numbers must show without scrolling"
            assert font_px >= 36, f"big numbers too small to read at a distance: {font_px}px"
        graph = phone.execute_script(
            "return document.querySelector('#live-angles-graph .main-svg').getBoundingClientRect().width")
        assert graph <= 390
        phone.save_screenshot(str(ARTIFACTS / "live-phone.png"))
