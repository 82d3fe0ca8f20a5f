"""The dashboard commands: report from the command line; safe serving defaults."""

from __future__ import annotations

import csv
from pathlib import Path

from imu.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def test_report_command_writes_offline_html_and_csv(tmp_path, capsys):
    html, out_csv = tmp_path / "r.html", tmp_path / "r.csv"
    assert main(["report", str(ROOT / "recordings" / "example-run.pmrec"), "-o", str(html),
                 "--csv", str(out_csv)]) == 0
    text = html.read_text(encoding="utf-8")
    assert "Session report" in text and "Plotly.newPlot" in text
    assert "plotly.js v" in text  # the library itself is inside the file
    rows = list(csv.DictReader(out_csv.open()))
    assert {r["side"] for r in rows} == {"left", "right"}
    assert "report written to" in capsys.readouterr().out


def test_serving_commands_default_to_this_computer_only():
    parser = build_parser()
    for argv in (["demo"], ["live"], ["replay", "x.pmrec"]):
        args = parser.parse_args(argv)
        assert args.host == "127.0.0.1" and args.open is False and args.token is None


def test_report_of_a_missing_file_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope.pmrec"), "-o", str(tmp_path / "r.html")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_live_offers_bluetooth_scan_and_opens_devices_as_ble_sources(monkeypatch):
    import imu.cli.live as live
    from imu.ble.stream import BleSource

    seen = {}
    monkeypatch.setattr(live, "serve", lambda config, open_browser: seen.setdefault("c", config)
                        and 0)
    assert main(["live", "--device", "C0:FF:EE:00:00:09", "--port", "0"]) == 0
    config = seen["c"]
    assert config.scanner is not None and config.open_source == "C0:FF:EE:00:00:09"
    source = config.source_factory("C0:FF:EE:00:00:09")
    assert isinstance(source, BleSource)
