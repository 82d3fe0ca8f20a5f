"""Tests of the CSV interchange formats (imu/csv_io.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imu import GRAVITY_MPS2
from imu.csv_io import (
    ANGLES_COLUMNS,
    ORIENTATION_COLUMNS,
    REQUIRED_COLUMNS,
    CsvImport,
    CsvUnits,
    looks_like_imu_csv,
    read_imu_csv,
    write_angles_csv,
    write_imu_csv,
    write_orientation_csv,
)
from imu.errors import CsvFormatError, SampleDataError, SettingsError, UnitsError
from imu.samples import SampleBlock

HEADER = ",".join(REQUIRED_COLUMNS)
HEADER_MAG = HEADER + ",mag_x,mag_y,mag_z"


def motion(n: int = 400, rate_hz: float = 100.0, seed: int = 0,
           with_mag: bool = False) -> SampleBlock:
    """A sensor standing still for 1 s, then moving (SI units)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate_hz
    moving = (t >= 1.0)[:, None]
    acc = np.array([0.3, -0.2, GRAVITY_MPS2]) + rng.normal(0, 0.02, (n, 3)) \
        + moving * 3.0 * np.sin(2 * np.pi * 1.8 * t)[:, None] * np.array([1.0, 0.3, 0.6])
    gyr = rng.normal(0, 0.01, (n, 3)) + moving * 2.0 * np.sin(2 * np.pi * 0.9 * t)[:, None]
    mag = np.array([20.0, 0.0, -40.0]) + rng.normal(0, 0.5, (n, 3)) if with_mag else None
    return SampleBlock(t, acc, gyr, mag)


def csv_text(block: SampleBlock, acc_scale: float = 1.0, gyr_scale: float = 1.0,
             header: str | None = None) -> str:
    cols = [block.time_s[:, None], block.acc_mps2 * acc_scale, block.gyr_rps * gyr_scale]
    if block.mag_uT is not None:
        cols.append(block.mag_uT)
    table = np.hstack(cols)
    head = header or (HEADER_MAG if block.mag_uT is not None else HEADER)
    return head + "\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in table)


def put(tmp_path: Path, text: str | bytes, name: str = "rec.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def lines_of(text: str) -> list[str]:
    return text.splitlines()


def expect_error(cls: type, path: Path, *fragments: str, line: int | None = None,
                 units: CsvUnits = CsvUnits(), **kw) -> Exception:
    """Read `path`, expect `cls` naming the file, the line, a hint and `fragments`."""
    with pytest.raises(cls) as info:
        read_imu_csv(path, units, **kw)
    err = info.value
    msg = str(err)
    assert path.name in msg and err.path == str(path)
    assert err.hint and "Hint:" in msg
    assert err.line == line
    if line is not None:
        assert f"line {line}" in msg
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    return err


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("with_mag", [False, True])
def test_round_trip_is_equal_within_formatting_precision(tmp_path: Path, with_mag: bool) -> None:
    block = motion(with_mag=with_mag)
    p = tmp_path / "rt.csv"
    write_imu_csv(p, block)
    got = read_imu_csv(p)
    assert isinstance(got, CsvImport)
    assert got.rows == len(block) and got.path == str(p) and got.gaps == 0
    assert got.rate_hz == pytest.approx(100.0)
    s = got.samples
    np.testing.assert_allclose(s.time_s, block.time_s, rtol=0, atol=5e-7)
    np.testing.assert_allclose(s.acc_mps2, block.acc_mps2, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(s.gyr_rps, block.gyr_rps, rtol=1e-8, atol=1e-12)
    assert s.has_mag == with_mag
    if with_mag:
        np.testing.assert_allclose(s.mag_uT, block.mag_uT, rtol=1e-8)
    assert p.read_text().splitlines()[0] == (HEADER_MAG if with_mag else HEADER)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(2, 60), rate=st.sampled_from([50.0, 100.0, 200.0, 1000.0]),
       t0=st.floats(0, 36_000), seed=st.integers(0, 2**31))
def test_round_trip_property(tmp_path: Path, n: int, rate: float, t0: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = t0 + np.arange(n) / rate
    acc = np.array([0.0, 0.0, GRAVITY_MPS2]) + rng.normal(0, 1e-3, (n, 3)) * 10.0 ** rng.integers(-6, 1)
    gyr = rng.normal(0, 1, (n, 3)) * 10.0 ** rng.integers(-9, 1)
    p = tmp_path / "prop.csv"
    write_imu_csv(p, SampleBlock(t, acc, gyr))
    s = read_imu_csv(p).samples
    np.testing.assert_allclose(s.time_s, t, rtol=0, atol=5e-7)
    np.testing.assert_allclose(s.acc_mps2, acc, rtol=1e-8)
    np.testing.assert_allclose(s.gyr_rps, gyr, rtol=1e-8, atol=0)


# ------------------------------------------------------------------ tolerated input


def test_bom_crlf_whitespace_free_order_and_extra_columns(tmp_path: Path) -> None:
    block = motion()
    rows = lines_of(csv_text(block))[1:]
    # Shuffle the columns and add an unknown text column and an unknown numeric one.
    order = [3, 0, 6, 1, 5, 2, 4]
    names = [REQUIRED_COLUMNS[i] for i in order]
    out = [" " + " , ".join(names) + " ,label,temp_C"]
    for r in rows:
        f = r.split(",")
        out.append(",".join(f[i] for i in order) + ",walk é,31.5")
    p = put(tmp_path, b"\xef\xbb\xbf" + "\r\n".join(out).encode() + b"\r\n")
    got = read_imu_csv(p)
    np.testing.assert_array_equal(got.samples.time_s, block.time_s)
    np.testing.assert_array_equal(got.samples.acc_mps2, block.acc_mps2)
    np.testing.assert_array_equal(got.samples.gyr_rps, block.gyr_rps)
    assert any("label" in n and "temp_C" in n for n in got.notes)


def test_lone_cr_line_ends_and_blank_lines(tmp_path: Path) -> None:
    block = motion(50)
    lines = lines_of(csv_text(block))
    text = "\r".join(lines[:10] + ["", "   "] + lines[10:]) + "\r\r\r"
    got = read_imu_csv(put(tmp_path, text))
    assert got.rows == 50
    assert any("2 blank line" in n for n in got.notes)


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    lines = lines_of(csv_text(motion(50)))
    lines[20] = lines[20].replace(lines[20].split(",")[2], "oops", 1)
    p = put(tmp_path, "\n".join(lines[:5] + ["", ""] + lines[5:]) + "\n")
    expect_error(CsvFormatError, p, "acc_y", "'oops'", line=23)


def test_mag_is_optional_and_may_be_given(tmp_path: Path) -> None:
    assert not read_imu_csv(put(tmp_path, csv_text(motion()), "a.csv")).samples.has_mag
    got = read_imu_csv(put(tmp_path, csv_text(motion(with_mag=True)), "b.csv"))
    assert got.samples.has_mag and got.samples.mag_uT.shape == (400, 3)
    assert got.notes == []  # plausible microtesla: no note


def test_implausible_mag_scale_is_noted_not_refused(tmp_path: Path) -> None:
    b = motion(with_mag=True)
    b = SampleBlock(b.time_s, b.acc_mps2, b.gyr_rps, b.mag_uT / 50.0)  # normalised units
    got = read_imu_csv(put(tmp_path, csv_text(b)))
    assert any("microtesla" in n for n in got.notes)


# ------------------------------------------------------------------ units


def test_g_and_deg_per_s_are_converted_to_si(tmp_path: Path) -> None:
    block = motion()
    p = put(tmp_path, csv_text(block, acc_scale=1 / GRAVITY_MPS2, gyr_scale=180 / math.pi))
    got = read_imu_csv(p, CsvUnits(acc="g", gyr="deg/s"))
    np.testing.assert_allclose(got.samples.acc_mps2, block.acc_mps2, rtol=1e-12)
    np.testing.assert_allclose(got.samples.gyr_rps, block.gyr_rps, rtol=1e-12)
    assert got.notes == []  # a clean file in declared units needs no remark


def test_g_data_declared_as_mps2_is_refused(tmp_path: Path) -> None:
    p = put(tmp_path, csv_text(motion(), acc_scale=1 / GRAVITY_MPS2))
    expect_error(UnitsError, p, "look like g", "--acc-unit g")


def test_mps2_data_declared_as_g_is_refused(tmp_path: Path) -> None:
    p = put(tmp_path, csv_text(motion()))
    expect_error(UnitsError, p, "look like m/s^2", "--acc-unit m/s^2", units=CsvUnits(acc="g"))


def test_unit_check_without_a_quiet_stretch_uses_the_median(tmp_path: Path) -> None:
    b = motion(400)
    moving = b.slice(100, 400)  # no still second
    assert read_imu_csv(put(tmp_path, csv_text(moving), "ok.csv")).rows == 300
    p = put(tmp_path, csv_text(moving, acc_scale=1 / GRAVITY_MPS2), "g.csv")
    expect_error(UnitsError, p, "median", "--acc-unit g")


def test_acc_without_gravity_is_refused(tmp_path: Path) -> None:
    b = motion()
    p = put(tmp_path, csv_text(SampleBlock(b.time_s, b.acc_mps2 * 0.01, b.gyr_rps)))
    expect_error(UnitsError, p, "far from gravity", "including gravity")


def test_deg_per_s_data_declared_as_rad_per_s_is_refused(tmp_path: Path) -> None:
    p = put(tmp_path, csv_text(motion(), gyr_scale=180 / math.pi * 10))
    expect_error(UnitsError, p, "deg/s", "--gyr-unit deg/s")


def test_a_few_gyro_spikes_are_not_a_unit_error(tmp_path: Path) -> None:
    b = motion()
    gyr = b.gyr_rps.copy()
    gyr[[50, 300], 0] = 40.0
    assert read_imu_csv(put(tmp_path, csv_text(SampleBlock(b.time_s, b.acc_mps2, gyr)))).rows == 400


@pytest.mark.parametrize("units, option", [(CsvUnits(acc="mps2"), "--acc-unit"),
                                           (CsvUnits(gyr="dps"), "--gyr-unit"),
                                           (CsvUnits(mag="gauss"), "only 'uT' is supported")])
def test_unit_spellings_are_exact(tmp_path: Path, units: CsvUnits, option: str) -> None:
    p = put(tmp_path, csv_text(motion()))
    expect_error(UnitsError, p, "not supported", option, units=units)


def test_bad_rate_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError):
        read_imu_csv(put(tmp_path, csv_text(motion())), rate_hz=0.0)


# ------------------------------------------------------------------ gaps


def test_gaps_are_marked_from_time(tmp_path: Path) -> None:
    b = motion(400)
    keep = np.ones(400, bool)
    keep[[120, 121, 122, 250]] = False
    t, acc, gyr = b.time_s[keep], b.acc_mps2[keep], b.gyr_rps[keep]
    got = read_imu_csv(put(tmp_path, csv_text(SampleBlock(t, acc, gyr))))
    assert got.gaps == 2 and got.rows == 396
    np.testing.assert_allclose(t[got.samples.gap_before], [1.23, 2.51])
    assert any("2 gap(s)" in n for n in got.notes)


def test_explicit_rate_drives_gap_detection(tmp_path: Path) -> None:
    got = read_imu_csv(put(tmp_path, csv_text(motion(400))), rate_hz=250.0)
    assert got.rate_hz == 250.0 and got.gaps == 399
    assert any("differs" in n for n in got.notes)


# ------------------------------------------------------------------ errors


def test_empty_file(tmp_path: Path) -> None:
    expect_error(CsvFormatError, put(tmp_path, ""), "empty")
    expect_error(CsvFormatError, put(tmp_path, b"\xef\xbb\xbf \r\n", "ws.csv"), "empty")


def test_unreadable_file(tmp_path: Path) -> None:
    expect_error(CsvFormatError, tmp_path / "missing.csv", "cannot read")


@pytest.mark.parametrize("rows", [0, 1])
def test_fewer_than_two_samples(tmp_path: Path, rows: int) -> None:
    text = "\n".join(lines_of(csv_text(motion()))[: 1 + rows]) + "\n"
    expect_error(CsvFormatError, put(tmp_path, text), f"only {rows} data row")


def test_missing_columns_are_named_with_what_was_found(tmp_path: Path) -> None:
    text = csv_text(motion(), header="time_s,ax,ay,az,gyr_x,gyr_y,gyr_z")
    err = expect_error(CsvFormatError, put(tmp_path, text), "acc_x, acc_y, acc_z", "'ax'",
                       "rename", line=1)
    assert "gyr_x" not in err.problem.split(";")[0]


def test_missing_header_line(tmp_path: Path) -> None:
    text = "\n".join(lines_of(csv_text(motion()))[1:])
    expect_error(CsvFormatError, put(tmp_path, text), "first line must be the header", line=1)


def test_partial_mag_columns(tmp_path: Path) -> None:
    text = csv_text(motion(with_mag=True), header=HEADER + ",mag_x,mag_y,magz")
    expect_error(CsvFormatError, put(tmp_path, text), "mag_x, mag_y", "all three", line=1)


def test_duplicate_column(tmp_path: Path) -> None:
    text = csv_text(motion(with_mag=True), header=HEADER + ",mag_x,mag_y,acc_x")
    expect_error(CsvFormatError, put(tmp_path, text), "'acc_x' appears twice", line=1)


@pytest.mark.parametrize("value, fragment", [("abc", "not a number: 'abc'"),
                                             ("", "is empty"),
                                             ("1,5", "field(s)")])
def test_non_numeric_values(tmp_path: Path, value: str, fragment: str) -> None:
    lines = lines_of(csv_text(motion()))
    f = lines[37].split(",")
    f[5] = value  # gyr_y on line 38
    lines[37] = ",".join(f)
    err = expect_error(CsvFormatError, put(tmp_path, "\n".join(lines)), fragment, line=38)
    if value != "1,5":
        assert "gyr_y" in str(err)


def test_errors_are_located_with_extra_columns_too(tmp_path: Path) -> None:
    lines = lines_of(csv_text(motion()))
    lines = [lines[0] + ",note"] + [r + ",ok" for r in lines[1:]]
    lines[200] = lines[200].replace(",", ",?", 1)  # acc_x on line 201
    expect_error(CsvFormatError, put(tmp_path, "\n".join(lines)), "acc_x", "'?", line=201)


def test_every_row_with_an_extra_field_is_refused(tmp_path: Path) -> None:
    lines = lines_of(csv_text(motion()))
    text = "\n".join([lines[0]] + [r + ",0" for r in lines[1:]])
    expect_error(CsvFormatError, put(tmp_path, text), "has 8 field(s) but the header has 7",
                 line=2)


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity"])
def test_nan_and_inf_values(tmp_path: Path, value: str) -> None:
    lines = lines_of(csv_text(motion()))
    f = lines[99].split(",")
    f[2] = value
    lines[99] = ",".join(f)
    err = expect_error(CsvFormatError, put(tmp_path, "\n".join(lines)), "acc_y is", "finite", line=100)
    assert "np.float64" not in str(err)


@pytest.mark.parametrize("fields", [6, 8])
def test_wrong_number_of_fields(tmp_path: Path, fields: int) -> None:
    lines = lines_of(csv_text(motion()))
    f = lines[10].split(",")
    lines[10] = ",".join((f + ["0"])[:fields])
    expect_error(CsvFormatError, put(tmp_path, "\n".join(lines)),
                 f"has {fields} field(s) but the header has 7", line=11)


@pytest.mark.parametrize("new_time, kind", [("0.1", "repeated"), ("0.05", "going back")])
def test_time_must_increase(tmp_path: Path, new_time: str, kind: str) -> None:
    lines = lines_of(csv_text(motion()))  # line k+2 holds t = k / 100
    f = lines[12].split(",")
    f[0] = new_time  # line 13, after t = 0.1 on line 12
    lines[12] = ",".join(f)
    expect_error(CsvFormatError, put(tmp_path, "\n".join(lines)), kind, f"{new_time} s after 0.1 s",
                 "line 12", "sort", line=13)


# ------------------------------------------------------------------ sniffing


def test_looks_like_imu_csv(tmp_path: Path) -> None:
    assert looks_like_imu_csv(put(tmp_path, csv_text(motion()), "a.csv"))
    assert looks_like_imu_csv(put(tmp_path, b"\xef\xbb\xbf" + b" acc_x , acc_y,acc_z,gyr_x,gyr_y,"
                                  b"gyr_z, time_s\r\n1,2,3,4,5,6,7\r\n", "b.csv"))
    assert not looks_like_imu_csv(put(tmp_path, "time_s,tilt_deg,obliquity_deg,rotation_deg\n",
                                      "c.csv"))
    assert not looks_like_imu_csv(put(tmp_path, bytes(range(256)), "d.bin"))
    assert not looks_like_imu_csv(tmp_path / "none.csv")


# ------------------------------------------------------------------ exports


def test_angles_csv_header_values_and_withheld_angles(tmp_path: Path) -> None:
    p = tmp_path / "angles.csv"
    t = np.array([0.0, 0.001, 3600.5])
    write_angles_csv(p, t, [1.5, np.nan, -0.123456789012], [0.0, np.nan, 2.0],
                     [-3.25, 4.0, np.nan])
    lines = p.read_text().splitlines()
    assert lines[0] == ",".join(ANGLES_COLUMNS) == "time_s,tilt_deg,obliquity_deg,rotation_deg"
    assert lines[1:] == ["0.000000,1.5,0,-3.25", "0.001000,,,4", "3600.500000,-0.123456789,2,"]


def test_orientation_csv(tmp_path: Path) -> None:
    p = tmp_path / "orientation.csv"
    q = np.array([[1.0, 0.0, 0.0, 0.0], [math.sqrt(0.5), 0.0, 0.0, math.sqrt(0.5)],
                  [np.nan] * 4])
    write_orientation_csv(p, [0.0, 0.01, 0.02], q)
    lines = p.read_text().splitlines()
    assert lines[0] == ",".join(ORIENTATION_COLUMNS) == "time_s,w,x,y,z"
    assert lines[1:] == ["0.000000,1,0,0,0", "0.010000,0.707106781,0,0,0.707106781",
                         "0.020000,,,,"]


def test_exports_with_many_rows_stay_in_order(tmp_path: Path) -> None:
    n = 123_457  # more than one write chunk
    t = np.arange(n) / 1000.0
    p = tmp_path / "a.csv"
    write_angles_csv(p, t, t, -t, np.zeros(n))
    back = np.loadtxt(p, delimiter=",", skiprows=1)
    np.testing.assert_allclose(back[:, 0], t, atol=5e-7)
    np.testing.assert_allclose(back[:, 2], -t, rtol=1e-8)


def test_export_argument_errors(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    with pytest.raises(SampleDataError, match="tilt_deg has 2"):
        write_angles_csv(p, [0.0, 1.0, 2.0], [0, 0], [0, 0, 0], [0, 0, 0])
    with pytest.raises(SampleDataError, match="infinite"):
        write_angles_csv(p, [0.0], [np.inf], [0], [0])
    with pytest.raises(SampleDataError, match="time_s must be finite"):
        write_angles_csv(p, [np.nan], [0], [0], [0])
    with pytest.raises(SampleDataError, match=r"\(N, 4\)"):
        write_orientation_csv(p, [0.0], [[1.0, 0.0, 0.0]])
    b = motion(10)
    acc = b.acc_mps2.copy()
    acc[3, 1] = np.nan
    with pytest.raises(SampleDataError, match="acc_y of sample 3"):
        write_imu_csv(p, SampleBlock(b.time_s, acc, b.gyr_rps))


# ------------------------------------------------------------------ real files


@pytest.mark.shared_data
@pytest.mark.parametrize("rel, rows, rate, has_mag, min_gaps", [
    ("ipol-dev/1-1/imu.csv", 2913, 100.0, True, 1),  # packet-counter time with radio gaps
    ("rbds-dev/RBDS032_T35.imu.csv", 9699, 200.0, False, 0),
])
def test_real_files(shared_data: Path, rel: str, rows: int, rate: float, has_mag: bool,
                    min_gaps: int) -> None:
    # `shared_data` (conftest) skips with a reason when ../shared/data is absent.
    path = shared_data / rel
    if not path.exists():
        pytest.skip(f"{path} not found: shared benchmark data absent (set PELVIS_SHARED_DATA)")
    assert looks_like_imu_csv(path)
    got = read_imu_csv(path)
    assert got.rows == rows and len(got.samples) == rows
    assert got.rate_hz == pytest.approx(rate, rel=1e-6)
    assert got.samples.has_mag == has_mag
    assert got.gaps >= min_gaps and got.gaps == int(got.samples.gap_before.sum())
    if min_gaps == 0:
        assert got.gaps == 0
