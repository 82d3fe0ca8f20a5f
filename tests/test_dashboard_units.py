"""Dashboard pieces without a browser: access checks, file confinement, uploads, buffers,
view models, the live stream and the report."""

from __future__ import annotations

import base64
import dataclasses
import csv
import io
import time
from pathlib import Path

import numpy as np
import pytest

from dashboard.app import create_app
from dashboard.buffers import AngleRing, RawRing
from dashboard.config import DashboardConfig
from dashboard.figures import cpd_figure
from dashboard.files import FileAccessError, accept_upload, clean_upload_name, recording_path
from dashboard.panel_data import (angle_readouts, band_shapes, calibration_steps, events_view,
                                  extend_payload, pelvis_rotations_deg)
from dashboard.replay import Player, PlayerRequest, advance, analyse_file
from dashboard.report import CSV_COLUMNS, build_report, report_csv
from dashboard.security import access_policy, host_allowed, is_loopback, origin_allowed
from dashboard.stream import LiveStream
from imu.calibration import CalibrationProgress
from imu.errors import SettingsError
from imu.events.model import Flag, Rep, Stride
from imu.inputs import load_input
from imu.pipeline import analyze_samples
from imu.samples import SampleBlock
from imu.simulate import VirtualSensor, simulate

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_RUN = ROOT / "recordings" / "example-run.pmrec"


# ---------------------------------------------------------------- serving safely

def test_loopback_serves_without_token_and_other_hosts_require_one():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert access_policy("127.0.0.1", None).token is None
    wide = access_policy("0.0.0.0", None)
    assert wide.token and len(wide.token) >= 16 and "token is required" in wide.notice
    assert access_policy("0.0.0.0", "my-secret-token").token == "my-secret-token"
    with pytest.raises(SettingsError):
        access_policy("0.0.0.0", "short")


def test_host_and_origin_checks():
    local = access_policy("127.0.0.1", None)
    assert host_allowed("127.0.0.1:8050", local) and host_allowed("localhost:8050", local)
    assert not host_allowed("evil.example:8050", local)  # DNS rebinding
    assert origin_allowed(None, "127.0.0.1:8050")
    assert origin_allowed("http://127.0.0.1:8050", "127.0.0.1:8050")
    assert not origin_allowed("http://evil.example", "127.0.0.1:8050")


def test_guards_on_the_flask_server(tmp_path):
    app = create_app(DashboardConfig(host="0.0.0.0", token="letmein-123", recordings_dir=tmp_path))
    client = app.dash.server.test_client()
    assert client.get("/").status_code == 401
    ok = client.get("/?token=letmein-123")
    assert ok.status_code == 200 and "pm_token" in ok.headers.get("Set-Cookie", "")
    assert client.get("/").status_code == 200  # the cookie now carries the token
    cross = client.post("/_dash-update-component", json={}, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403
    local = create_app(DashboardConfig(recordings_dir=tmp_path)).dash.server.test_client()
    assert local.get("/", headers={"Host": "attacker.example:8050"}).status_code == 403
    assert local.get("/", headers={"Host": "127.0.0.1:8050"}).status_code == 200


# ---------------------------------------------------------------- files

def test_recording_path_stays_inside_the_folder(tmp_path):
    (tmp_path / "a.pmrec").write_bytes(b"x")
    outside = tmp_path.parent / "secret.csv"
    outside.write_text("x")
    (tmp_path / "link.csv").symlink_to(outside)
    assert recording_path(tmp_path, "a.pmrec") == (tmp_path / "a.pmrec").resolve()
    for bad in ("../secret.csv", "/etc/passwd", "link.csv", "a.txt", "", "sub\\..\\a.pmrec",
                "missing.pmrec"):
        with pytest.raises(FileAccessError):
            recording_path(tmp_path, bad)


def _data_url(data: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(data).decode()


def test_uploads_are_checked_and_stored_under_a_clean_name(tmp_path):
    assert clean_upload_name("../../x y.PMREC") == "upload-x_y.pmrec"
    with pytest.raises(FileAccessError, match="upload a recording"):
        clean_upload_name("evil.sh")
    with pytest.raises(FileAccessError, match="too large"):
        accept_upload(_data_url(b"0" * 2000), "a.csv", tmp_path, max_bytes=1000)
    with pytest.raises(FileAccessError, match="damaged"):
        accept_upload("data:text/csv;base64,@@@@", "a.csv", tmp_path, max_bytes=1000)
    with pytest.raises(FileAccessError, match="Refused 'a.csv'"):
        accept_upload(_data_url(b"name,value\nx,1\n"), "a.csv", tmp_path, max_bytes=1000)
    assert list(tmp_path.iterdir()) == []
    good = "time_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n" + "".join(
        f"{i / 100:.2f},0,0,9.81,0,0,0\n" for i in range(300))
    name, loaded = accept_upload(_data_url(good.encode()), "walk.csv", tmp_path, 10**6)
    assert name == "upload-walk.csv" and len(loaded.samples) == 300
    name2, _ = accept_upload(_data_url(good.encode()), "walk.csv", tmp_path, 10**6)
    assert name2 == "upload-walk-2.csv"  # never overwrites


# ---------------------------------------------------------------- buffers and views

def test_angle_ring_serves_increments_and_forgets_the_oldest():
    ring = AngleRing(5)
    t = np.arange(3.0)
    ring.append(t, t, t, t, 100.0)
    first = ring.since(0)
    assert (first.start_index, first.end_index) == (0, 3) and list(first.time_s) == [0, 1, 2]
    ring.append(t + 3, t, t, t, 101.0)
    later = ring.since(first.end_index)
    assert list(later.time_s) == [3, 4, 5] and list(later.arrival_epoch_s) == [101.0] * 3
    assert list(ring.since(0).time_s) == [1, 2, 3, 4, 5]  # capacity 5: index 0 is gone
    assert list(ring.since(0, limit=2).time_s) == [4, 5]


def test_raw_ring_keeps_whole_recent_blocks():
    raw = RawRing(10)
    for k in range(5):
        t = np.arange(4.0) + 4 * k
        raw.append(SampleBlock(t, np.zeros((4, 3)), np.zeros((4, 3))))
    kept = raw.since(0.0)
    assert [b.time_s[0] for b in kept] == [8.0, 12.0, 16.0]
    assert [b.time_s[0] for b in raw.since(13.0)] == [12.0, 16.0]


def test_readouts_follow_the_sign_conventions():
    tilt, drop, rot = angle_readouts((4.0, 3.0, -2.0))
    assert (tilt.value, tilt.detail) == ("4.0°", "anterior")
    assert (drop.value, drop.detail) == ("3.0°", "left side low")  # right higher = left dropped
    assert (rot.value, rot.detail) == ("2.0°", "turned right")
    assert angle_readouts((0.0, -0.2, 0.1))[1].detail == "level"
    assert angle_readouts(None)[0].detail == "waiting for calibration"
    # Behind view: right side up = counter-clockwise (negative CSS rotation).
    assert pelvis_rotations_deg((4.0, 3.0, -2.0)) == (-3.0, 4.0, 2.0)


def test_extend_payload_sends_gaps_as_null():
    ring = AngleRing(10)
    ring.append(np.array([10.0, 10.02]), np.array([np.nan, 1.234]), np.array([0.0, 2.0]),
                np.array([0.0, -1.0]), 5.0)
    data, traces, max_points = extend_payload(ring.since(0), 10.0, 750)
    assert traces == [0, 1, 2] and max_points == 750
    assert data["x"][0] == [0.0, 0.02] and data["y"][0] == [None, 1.23]


def _item(cls, **given):
    """An analysis item with the given fields and 0.0 for the others (the model may grow)."""
    return cls(**{f.name: given.get(f.name, 0.0) for f in dataclasses.fields(cls)})


def _stride(i, side, cpd, t):
    return _item(Stride, index=i, side=side, ic_time_s=t, to_time_s=t + 0.3,
                 contralateral_drop_deg=cpd, activity="running", reported_time_s=t + 0.5)


def _rep(i, set_index, side, t):
    return _item(Rep, index=i, set_index=set_index, exercise="lunge", side=side, start_time_s=t,
                 turn_time_s=t + 1, end_time_s=t + 2, contralateral_drop_deg=2.0 + i,
                 reported_time_s=t + 2.2)


def test_events_view_and_bands():
    flag = _item(Flag, rule="drop", activity="exercise", time_s=5.0, cycle=3, side="left",
                 value=7.2, limit=6.0, unit="deg", message="Left hip drops", reported_time_s=5.1)
    items = (_stride(1, "left", 5.0, 0.0), _stride(2, "right", 8.0, 0.5), _rep(1, 1, "left", 2),
             _rep(2, 2, "left", 6), _rep(3, 2, "left", 9), flag)
    v = events_view(items)
    assert [r.index for r in v.reps] == [2, 3]  # the current (latest) set only
    assert v.flags == (flag,) and v.flag_total == 1 and v.stride_total == 2
    shapes = band_shapes(items, 0.6, 10.0, origin_s=0.0)
    # The first stance ended before the window; the others are clipped to it.
    assert [(s["x0"], s["x1"]) for s in shapes] == [(0.6, 0.8), (2, 4), (6, 8), (9, 10)]
    assert shapes[0]["fillcolor"] == "#E69F00"  # right is orange everywhere
    bars = {d["name"]: d for d in cpd_figure(v.strides)["data"]}
    assert bars["left stance"]["marker"]["color"] == "#56B4E9"
    assert bars["right stance"]["y"] == [8.0] and bars["right stance"]["x"] == [2]


def test_calibration_steps_show_progress():
    p = CalibrationProgress("seek-standing", 1.0, 2.0, 0, 2, False, 0.0, 5.0)
    stand, hinge = calibration_steps(p, None, "")
    assert stand.fraction == 0.5 and not stand.done and hinge.fraction == 0.0
    p = CalibrationProgress("seek-anterior", 4.0, 2.0, 1, 2, True, 0.0, 5.0)
    stand, hinge = calibration_steps(p, None, "")
    assert stand.done and hinge.fraction == 0.5 and "hinging now" in hinge.text


def test_replay_advance_stops_at_the_end():
    assert advance(10.0, 8.0, 0.05, 100.0) == (10.4, True)
    assert advance(10.0, 1.0, 30.0, 100.0) == (10.5, True)  # a stalled tab does not jump
    assert advance(99.9, 4.0, 0.1, 100.0) == (100.0, False)


def _req(*fired: str, clicks: int = 0, seek: float | None = None,
         shown: float | None = None, timeline: float | None = None) -> PlayerRequest:
    return PlayerRequest(frozenset(fired), clicks, seek, shown, timeline)


def test_player_press_counts_even_when_the_browser_merged_it_into_a_tick():
    pl = Player("a.pmrec")
    pl.step(_req("loaded"), 100.0, 0.0, fresh=True)
    pl.step(_req("play", clicks=1, seek=0.0, shown=0.0), 100.0, 1.0, fresh=False)
    assert pl.playing
    pl.step(_req("tick", clicks=1, seek=0.0, shown=0.0), 100.0, 1.1, fresh=False)
    assert pl.playing and pl.position_s == pytest.approx(0.1)
    # The pause press went out only inside the next tick's request: still a pause.
    pl.step(_req("tick", clicks=2, seek=0.1, shown=0.1), 100.0, 1.2, fresh=False)
    assert not pl.playing and pl.position_s == pytest.approx(0.1)
    # Later requests carry the same count and change nothing; two quick presses cancel.
    pl.step(_req("tick", clicks=2, seek=0.1, shown=0.1), 100.0, 1.3, fresh=False)
    assert not pl.playing
    pl.step(_req("play", clicks=4, seek=0.1, shown=0.1), 100.0, 1.4, fresh=False)
    assert not pl.playing
    # A late request sent before the last press does not undo it.
    pl.step(_req("play", clicks=3, seek=0.1, shown=0.1), 100.0, 1.5, fresh=False)
    assert not pl.playing


def test_player_seek_and_timeline_apply_without_their_trigger():
    pl = Player("a.pmrec")
    pl.step(_req("loaded", clicks=5, seek=42.0), 100.0, 0.0, fresh=True)
    assert (pl.position_s, pl.playing) == (0.0, False)  # old presses and slider ignored
    pl.step(_req("tick", clicks=5, seek=30.0, shown=0.0), 100.0, 0.1, fresh=False)
    assert pl.position_s == 30.0  # the slider moved by the user, trigger dropped
    jumped = pl.step(_req("tick", clicks=5, seek=30.0, shown=30.0), 100.0, 0.2, fresh=False)
    assert not jumped and pl.position_s == 30.0
    assert pl.step(_req("tick", clicks=5, seek=30.0, shown=30.0, timeline=70.0), 100.0, 0.3,
                   fresh=False)
    assert pl.position_s == 70.0
    pl.step(_req("tick", clicks=5, seek=70.0, shown=70.0, timeline=70.0), 100.0, 0.4, fresh=False)
    pl.position_s = 50.0
    pl.step(_req("timeline", clicks=5, seek=50.0, shown=50.0, timeline=70.0), 100.0, 0.5,
            fresh=False)
    assert pl.position_s == 70.0  # the same point clicked again


def test_player_play_at_the_end_starts_again():
    pl = Player("a.pmrec", position_s=100.0)
    pl.step(_req("play", clicks=1, seek=100.0, shown=100.0), 100.0, 0.0, fresh=False)
    assert pl.playing and pl.position_s == 0.0
    fresh = Player("b.pmrec")
    fresh.step(_req("play", clicks=3, seek=0.0, shown=0.0), 100.0, 0.0, fresh=True)
    assert fresh.playing  # the press that made this request counts, older ones do not


# ---------------------------------------------------------------- live stream

def test_live_stream_records_with_the_calibration_preroll(tmp_path):
    sim = simulate("lunges-unstable", duration_scale=0.15)
    stream = LiveStream(tmp_path)
    stream.connect(VirtualSensor(sim, speed=30.0))
    deadline = time.monotonic() + 60
    while stream.snapshot().alignment is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stream.snapshot().alignment is not None, stream.snapshot().calibration_message
    with pytest.raises(SettingsError, match="Start recording"):
        stream.annotate("too early")
    name = stream.start_recording()
    time.sleep(0.3)
    stream.annotate("set 1 left")
    result = stream.stop_recording()
    stream.disconnect()
    assert Path(result.path).name == name and result.samples > 0
    loaded = load_input(result.path)
    assert [a.text for a in loaded.annotations] == ["set 1 left"]
    assert loaded.settings["pipeline"]["exercise"] == "auto"
    assert analyze_samples(loaded.samples, loaded.rate_hz).calibrated
    _, sl = stream.angles_since(0)
    assert len(sl) > 0 and np.isfinite(sl.tilt_deg).any()


# ---------------------------------------------------------------- report

def test_report_csv_has_a_row_per_segment_and_side():
    data = analyse_file(EXAMPLE_RUN, EXAMPLE_RUN.name)
    report = build_report(data)
    rows = list(csv.DictReader(io.StringIO(report_csv(report))))
    assert list(rows[0]) == CSV_COLUMNS
    assert len(rows) == 2 * (len(report.segments) + 1)
    whole = [r for r in rows if r["segment"] == "whole session"]
    strides = [e for e in data.events if isinstance(e, Stride)]
    for r in whole:
        side = [s for s in strides if s.side == r["side"]]
        assert int(r["strides"]) == len(side)
        if len(side) >= 2:
            cpd = np.array([s.contralateral_drop_deg for s in side])
            assert float(r["cpd_mean_deg"]) == pytest.approx(cpd.mean(), abs=1e-3)
            assert float(r["cpd_sd_deg"]) == pytest.approx(cpd.std(ddof=1), abs=1e-3)


def test_replay_takes_the_items_a_window_needs_by_report_time():
    """Each replay tick draws the stance and rep bands of its chart window from the items
    reported since the window's start, not from the whole session's items."""
    from dashboard.views import bands
    data = analyse_file(ROOT / "recordings" / "example-lunges.pmrec", "example")
    window = 15.0
    for pos in (30.0, 90.0, data.duration_s):
        recent = data.events_reported_between(pos - window, pos)
        assert set(recent) <= set(data.events_until(pos))
        newest = data.origin_s + pos
        assert bands(recent, newest, window, data.origin_s) == \
            bands(data.events_until(pos), newest, window, data.origin_s)
    assert len(recent) < data.count_until(data.duration_s) / 4  # the last window's share


def test_replay_cache_is_bounded_by_samples_as_well_as_files(tmp_path):
    import shutil

    from dashboard.replay import ReplayLibrary
    paths = []
    for k in range(3):
        p = tmp_path / f"run{k}.pmrec"
        shutil.copy(EXAMPLE_RUN, p)
        paths.append(p)
    one = ReplayLibrary().get(paths[0], "run0").analysis.time_s.size
    lib = ReplayLibrary(max_files=4, max_samples=2 * one)
    first = lib.get(paths[0], "run0")
    second = lib.get(paths[1], "run1")
    assert lib.get(paths[0], "run0") is first          # cached: two files fit
    lib.get(paths[2], "run2")                           # a third exceeds the samples:
    assert len(lib) == 2                                # the least recently used goes
    assert lib.get(paths[0], "run0") is first
    assert lib.get(paths[1], "run1") is not second      # evicted, analysed again
    tiny = ReplayLibrary(max_samples=1)                 # the file in use is always kept
    assert tiny.get(paths[0], "run0") is tiny.get(paths[0], "run0")
