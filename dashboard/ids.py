"""Every component id of the dashboard, in one place (tests and callbacks use these)."""

from __future__ import annotations

# Shell
URL = "url"
PAGE = "page"
NAV = "nav"


class PanelIds:
    """The panels shared by the live and the replay view, prefixed per view."""

    tick: str
    slow_tick: str
    cursor: str
    events_cursor: str
    angles_graph: str
    stamp: str
    bands: str
    bands_sink: str
    tilt: str
    drop: str
    rotation: str
    pelvis_back: str
    pelvis_side: str
    pelvis_top: str
    cpd_graph: str
    reps_graph: str
    reps_table: str
    variability: str
    flags: str
    flag_count: str
    calibration: str
    activity: str

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        for name in self.__annotations__:
            setattr(self, name, f"{prefix}-{name.replace('_', '-')}")


LIVE = PanelIds("live")
REPLAY = PanelIds("replay")

# Live view only
LIVE_DEVICE_LIST = "live-device-list"
LIVE_SCAN = "live-scan"
LIVE_CONNECT = "live-connect"
LIVE_DISCONNECT = "live-disconnect"
LIVE_LINK = "live-link"
LIVE_CONNECT_MSG = "live-connect-msg"
LIVE_EXERCISE = "live-exercise"
LIVE_RECALIBRATE = "live-recalibrate"
LIVE_RECORD = "live-record"
LIVE_RECORD_STATE = "live-record-state"
LIVE_ANNOTATE_TEXT = "live-annotate-text"
LIVE_ANNOTATE = "live-annotate"
LIVE_QUICK_NOTE = "live-quick-note"  # pattern id {"type": LIVE_QUICK_NOTE, "text": ...}
LIVE_NOTE_MSG = "live-note-msg"
LIVE_SOUND = "live-sound"
LIVE_SOUND_SINK = "live-sound-sink"

# Replay view only
REPLAY_PICK = "replay-pick"
REPLAY_UPLOAD = "replay-upload"
REPLAY_UPLOAD_CHECKED = "replay-upload-checked"
REPLAY_MSG = "replay-msg"
REPLAY_LOADED = "replay-loaded"
REPLAY_TITLE = "replay-title"
REPLAY_PLAY = "replay-play"
REPLAY_SPEED = "replay-speed"
REPLAY_SEEK = "replay-seek"
REPLAY_POSITION = "replay-position"
REPLAY_TIMELINE = "replay-timeline"
REPLAY_STATE = "replay-state"
REPLAY_TAB = "replay-tab"
REPLAY_EXPORT_HTML = "replay-export-html"
REPLAY_EXPORT_CSV = "replay-export-csv"
REPLAY_DOWNLOAD = "replay-download"
REPLAY_SUMMARY = "replay-summary"

# Sessions page
SESSIONS_TABLE = "sessions-table"
SESSIONS_TREND = "sessions-trend"
SESSIONS_REFRESH = "sessions-refresh"
