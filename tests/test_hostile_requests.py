"""Hostile requests to the real dashboard server (Flask test client, no browser).

The replay view's load callback is called the way the page calls it, with what an
attacker controls: the ?file= query, the picker value and uploads. Names that leave the
recordings folder (.., absolute, URL-encoded, backslashes, NUL, symbolic links to files
or folders outside) are refused; broken uploads are refused with a message and not
kept; beyond localhost nothing is served without the token, and no state-changing
request is accepted from another origin, while the page's own requests work.
(tests/test_dashboard_units.py checks the guard functions; test_dashboard_browser.py
the messages in a real page.)
"""

from __future__ import annotations

import base64

import numpy as np
import pytest

from dashboard import ids
from dashboard.app import create_app
from dashboard.config import DashboardConfig
from imu.csv_io import write_imu_csv
from imu.samples import SampleBlock

SECRET = "top-secret-marker"
TOKEN = "letmein-123456"


def _walk_csv(path, acc_scale: float = 1.0) -> None:
    t = np.arange(600) / 100.0
    acc = np.array([0.0, 0.0, 9.80665]) + 0.02 * np.sin(t[:, None] * [5.0, 7.0, 3.0])
    write_imu_csv(path, SampleBlock(t, acc * acc_scale, 0.01 * np.cos(t[:, None] * [3.0, 4.0, 5.0])))


@pytest.fixture()
def folder(tmp_path):
    """recordings/ with a good CSV, a folder named like a recording, and links out."""
    rec = tmp_path / "recordings"
    rec.mkdir()
    _walk_csv(rec / "good.csv")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text(f"time_s,{SECRET}\n")
    (rec / "linkdir").symlink_to(outside, target_is_directory=True)
    (rec / "link.csv").symlink_to(outside / "secret.csv")
    (rec / "inside-link.csv").symlink_to(rec / "good.csv")
    (rec / "folder.pmrec").mkdir()
    return rec


def _client(folder, **config):
    app = create_app(DashboardConfig(recordings_dir=folder, max_upload_bytes=200_000, **config))
    return app.dash.server.test_client()


def _load(client, *, search="", picked=None, upload=None, headers=None, cookie=True):
    """POST the replay view's load callback as the page does; (status, response)."""
    deps = client.get("/_dash-dependencies", headers=headers).get_json()
    dep = next(d for d in deps if f"{ids.REPLAY_PICK}.options" in d["output"])
    outputs = [dict(zip(("id", "property"), part.split(".")))
               for part in dep["output"].strip(".").split("...")]
    trigger = f"{ids.REPLAY_UPLOAD_CHECKED}.data" if upload else f"{ids.REPLAY_PICK}.value"
    body = {"output": dep["output"], "outputs": outputs,
            "inputs": [{"id": ids.REPLAY_PICK, "property": "value", "value": picked},
                       {"id": ids.REPLAY_UPLOAD_CHECKED, "property": "data", "value": upload}],
            "state": [{"id": ids.URL, "property": "search", "value": search}],
            "changedPropIds": [trigger]}
    resp = client.post("/_dash-update-component", json=body,
                       headers={"Origin": "http://localhost", **(headers or {})})
    return resp.status_code, resp.get_data(as_text=True), (resp.get_json(silent=True) or {})


def _message(result) -> str:
    return result[2]["response"][ids.REPLAY_MSG]["children"]


def _loaded(result):
    return result[2]["response"][ids.REPLAY_LOADED]["data"]


# ---------------------------------------------------------------- paths

def test_a_file_inside_the_folder_loads_through_the_same_callback(folder):
    client = _client(folder)
    for search in ("?file=good.csv", "?file=inside-link.csv", "?file=%67ood.csv"):
        result = _load(client, search=search)
        assert result[0] == 200 and _loaded(result)["duration"] > 5.0, result[1]


@pytest.mark.parametrize("search", [
    "?file=%2e%2e/outside/secret.csv",             # URL-encoded dots
    "?file=%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",        # all encoded
    "?file=%252e%252e%252foutside%252fsecret.csv",  # encoded twice: a name, never a path
    "?file=/etc/passwd",
    "?file=" + "%2F" + "etc/passwd",
    "?file=..%5Coutside%5Csecret.csv",             # backslashes
    "?file=sub/../../outside/secret.csv",
    "?file=file:///etc/passwd",
    "?file=good.csv%00.pmrec",                     # NUL byte
    "?file=linkdir/secret.csv",                    # a folder link pointing out
    "?file=link.csv",                              # a file link pointing out
    "?file=folder.pmrec",                          # a folder named like a recording
    "?file=.",
])
def test_paths_leaving_the_folder_are_refused(folder, search):
    result = _load(_client(folder), search=search)
    assert result[0] == 200
    msg = _message(result)
    assert ("Refused" in msg or "not in the recordings folder" in msg
            or "No file name" in msg), msg
    assert _loaded(result) is None and SECRET not in result[1]


def test_a_forged_picker_value_is_refused_like_a_query(folder):
    result = _load(_client(folder), picked="../outside/secret.csv")
    assert "Refused" in _message(result) and SECRET not in result[1]


# ---------------------------------------------------------------- uploads

def _upload(data: bytes, name: str) -> dict:
    return {"contents": "data:application/octet-stream;base64," + base64.b64encode(data).decode(),
            "filename": name}


def test_broken_uploads_are_refused_with_a_reason_and_not_kept(folder, tmp_path):
    _walk_csv(tmp_path / "in-g.csv", acc_scale=1 / 9.80665)
    good = (folder / "good.csv").read_text()
    client = _client(folder)
    cases = [
        (np.random.default_rng(3).bytes(4000), "garbage.pmrec", "binary data"),
        (good.encode("utf-16"), "excel.csv", "UTF-16"),
        ((tmp_path / "in-g.csv").read_bytes(), "in-g.csv", "look like g"),
        (b"", "empty.csv", "empty"),
        (good.encode(), "page.html", "upload a recording (.pmrec) or an IMU CSV"),
        (b"x" * 300_000, "big.csv", "at most 0.2 MB"),
    ]
    before = sorted(p.name for p in folder.iterdir())
    for data, name, reason in cases:
        msg = _message(_load(client, upload=_upload(data, name)))
        assert msg.startswith("Refused") or msg.startswith("The"), msg
        assert reason in msg, msg
    damaged = {"contents": "data:text/csv;base64,@@@@", "filename": "x.csv"}
    assert "damaged" in _message(_load(client, upload=damaged))
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing kept


def test_an_upload_name_cannot_place_the_file_outside(folder):
    good = (folder / "good.csv").read_bytes()
    result = _load(_client(folder), upload=_upload(good, "../../../evil.csv"))
    assert _loaded(result)["name"] == "upload-evil.csv"
    assert (folder / "upload-evil.csv").read_bytes() == good
    assert not (folder.parent / "evil.csv").exists()


def test_a_request_body_beyond_the_limit_is_refused_before_it_is_read(folder):
    client = _client(folder)
    big = _upload(b"0" * 2_000_000, "big.csv")  # the limit: 200 kB as base64 + 1 MiB
    status, _, _ = _load(client, upload=big)
    assert status == 413


# ---------------------------------------------------------------- token and origin

def test_nothing_is_served_beyond_localhost_without_the_token(folder):
    client = _client(folder, host="0.0.0.0", token=TOKEN)
    for path in ("/", "/replay", "/_dash-layout", "/_dash-dependencies",
                 "/assets/dashboard.css", f"/?token={TOKEN[:-1]}"):
        assert client.get(path).status_code == 401, path
    client.set_cookie(key="pm_token", value="wrong-token-value", domain="localhost")
    assert client.get("/").status_code == 401
    resp = client.post("/_dash-update-component", json={},
                       headers={"Origin": "http://localhost"})
    assert resp.status_code == 401  # same origin, but no token


def test_the_pages_own_requests_work_with_the_token_and_others_are_refused(folder):
    client = _client(folder, host="0.0.0.0", token=TOKEN)
    assert client.get(f"/replay?token={TOKEN}").status_code == 200  # sets the cookie
    ok = _load(client, search="?file=good.csv")
    assert ok[0] == 200 and _loaded(ok)["name"] == "good.csv"
    for origin in ("http://evil.example", "null", "http://localhost:9999",
                   "http://localhost.evil.example"):
        status, text, _ = _load(client, search="?file=good.csv", headers={"Origin": origin})
        assert status == 403 and "another web site" in text, origin


def test_on_localhost_other_origins_are_refused_too(folder):
    client = _client(folder)
    status, _, _ = _load(client, search="?file=good.csv",
                         headers={"Origin": "http://attacker.example"})
    assert status == 403
    assert _load(client, search="?file=good.csv")[0] == 200
