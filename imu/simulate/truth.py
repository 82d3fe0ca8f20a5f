"""Ground truth of a simulated session in the CONVENTIONS interchange formats.

All truth times are in the DEVICE time base (the `time_s` the samples carry, i.e. the
device clock, without the timestamp jitter), so they compare directly with what the
pipeline reports. Angles come from `imu.angles.decompose` of the true pelvis
orientation and the rotation from `imu.angles.relative_heading` over the delivered
samples (with their gaps), exactly as the product defines them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imu.angles import decompose, relative_heading
from imu.csv_io import write_angles_csv, write_orientation_csv
from imu.rotation import matrix_to_quat
from imu.simulate.motion import Motion
from imu.simulate.synthesis import Synthesis

TRUTH_FORMAT = "pelvis-monitor-simulation-truth"
TRUTH_VERSION = 1


@dataclass(frozen=True)
class Truth:
    """Per-sample truth plus the events document (JSON-ready dict)."""

    time_s: np.ndarray
    true_time_s: np.ndarray
    seq: np.ndarray
    tilt_deg: np.ndarray
    obliquity_deg: np.ndarray
    rotation_deg: np.ndarray
    quat_earth_sensor: np.ndarray   # (n, 4) w, x, y, z
    events: dict
    info: dict

    @property
    def strides(self) -> list[dict]:
        return self.events["strides"]

    @property
    def reps(self) -> list[dict]:
        return self.events["reps"]


def _r(x: float, nd: int = 6) -> float:
    return round(float(x), nd)


def _angles_at(motion: Motion, t: float) -> np.ndarray:
    """(tilt, obliquity, heading) in radians at a true time (linear on the fine grid)."""
    x = t * motion.rate_hz
    i = int(np.clip(np.floor(x), 0, motion.n - 2))
    u = x - i
    a = np.array([motion.tilt_rad[i], motion.obliquity_rad[i], motion.heading_rad[i]])
    b = np.array([motion.tilt_rad[i + 1], motion.obliquity_rad[i + 1], motion.heading_rad[i + 1]])
    return a + (b - a) * u


#: A rep's start posture: the mean pose over this long before its start. The movement
#: noise of a person at rest (a few tenths of a degree at up to 1.5 Hz) is not posture;
#: the instant at the start would add it to every deviation.
START_POSTURE_S = 1.0


def start_posture(motion: Motion, t: float, after: float = -np.inf) -> np.ndarray:
    """(tilt, obliquity, heading) in radians: their mean over START_POSTURE_S up to t
    (but not before `after`: the end of the previous rep)."""
    w = _window(motion, max(t - START_POSTURE_S, after), t)
    if w.stop - w.start < 2:
        return _angles_at(motion, t)
    return np.array([motion.tilt_rad[w].mean(), motion.obliquity_rad[w].mean(),
                     motion.heading_rad[w].mean()])


def _window(motion: Motion, t0: float, t1: float) -> slice:
    i0 = int(np.ceil(t0 * motion.rate_hz))
    i1 = int(np.floor(t1 * motion.rate_hz)) + 1
    return slice(max(i0, 0), min(i1, motion.n))


def stance_truth(motion: Motion, scale: float) -> list[dict]:
    """Per-stance CPD exactly per CONVENTIONS, from the true obliquity on the fine grid.

    Right stance: max of +obliquity over IC..TO; left stance: max of -obliquity. The
    excursion is from the value at IC to that peak.
    """
    out = []
    spans = [s for s in motion.segments if s.kind != "set"]
    starts = np.array([s.start_s for s in spans])
    for st in motion.stances:
        sgn = 1.0 if st.side == "right" else -1.0
        w = _window(motion, st.ic_time_s, st.to_time_s)
        vals = sgn * motion.obliquity_rad[w]
        k = int(np.argmax(vals))
        peak = float(vals[k])
        at_ic = sgn * _angles_at(motion, st.ic_time_s)[1]
        seg = spans[int(np.searchsorted(starts, st.ic_time_s, side="right")) - 1]
        out.append({
            "side": st.side,
            "ic_time_s": _r(st.ic_time_s * scale),
            "to_time_s": _r(st.to_time_s * scale),
            "end_time_s": _r(st.next_ic_time_s * scale),
            "stance_time_s": _r((st.to_time_s - st.ic_time_s) * scale),
            "stride_time_s": _r((st.next_ic_time_s - st.ic_time_s) * scale),
            "contralateral_drop_deg": _r(np.degrees(peak), 4),
            "drop_excursion_deg": _r(np.degrees(peak - at_ic), 4),
            "peak_time_s": _r((w.start + k) / motion.rate_hz * scale),
            "phase": st.phase,
            "segment": seg.name,
        })
    return out


def rep_truth(motion: Motion, scale: float) -> list[dict]:
    """Per-rep ROM and peak deviation from the rep's start posture, per angle.

    Rotation is the heading change since the rep start (the physical transverse rotation;
    the trailing-mean rotation of CONVENTIONS would partly absorb a slow rep).
    """
    out = []
    prev_end = -np.inf
    # Nor into the posture change before a set's first rep.
    arrived = sorted(sp.end_s for sp in motion.segments if sp.kind == "transition")
    for rep in motion.reps:
        w = _window(motion, rep.start_s, rep.end_s)
        since = [t for t in arrived if t <= rep.start_s]
        start = start_posture(motion, rep.start_s,
                              max([prev_end, rep.posture_from_s] + since[-1:]))
        prev_end = rep.end_s
        entry = {
            "exercise": rep.exercise,
            "side": rep.side,
            "set": rep.set_index,
            "rep": rep.rep_index,
            "start_time_s": _r(rep.start_s * scale),
            "turn_time_s": _r(rep.turn_s * scale),
            "end_time_s": _r(rep.end_s * scale),
            "duration_s": _r((rep.end_s - rep.start_s) * scale),
            "fault": "+".join(rep.faults) if rep.faults else None,
            "fault_deg": _r(rep.fault_deg, 3),
            "start_posture_deg": [_r(float(np.degrees(v)), 4) for v in start],
        }
        for j, (name, arr) in enumerate((("tilt", motion.tilt_rad),
                                         ("obliquity", motion.obliquity_rad),
                                         ("rotation", motion.heading_rad))):
            dev = np.degrees(arr[w] - start[j])
            k = int(np.argmax(np.abs(dev)))
            entry[f"{name}_rom_deg"] = _r(np.ptp(dev), 4)
            entry[f"{name}_peak_dev_deg"] = _r(dev[k], 4)
        out.append(entry)
    return out


def build_truth(motion: Motion, synth: Synthesis, info: dict) -> Truth:
    """Everything a test or the accuracy bench compares the pipeline output with."""
    block = synth.block
    scale = synth.device_time_scale
    tilt, obl, head = decompose(synth.ideal.r_earth_pelvis)
    rot = relative_heading(block.time_s, head, block.gap_before)
    r_es = synth.ideal.r_earth_pelvis @ synth.mounting
    quat = matrix_to_quat(r_es)
    events = {
        "initial_contacts": [{"time_s": _r(e.time_s * scale), "side": e.side}
                             for e in motion.events if e.kind == "ic"],
        "toe_offs": [{"time_s": _r(e.time_s * scale), "side": e.side}
                     for e in motion.events if e.kind == "to"],
        "strides": stance_truth(motion, scale),
        "reps": rep_truth(motion, scale),
        "hinges": [{"start_time_s": _r(h.start_s * scale), "turn_time_s": _r(h.turn_s * scale),
                    "end_time_s": _r(h.end_s * scale), "tilt_deg": _r(h.tilt_deg, 4)}
                   for h in motion.hinges],
        "segments": [{"name": s.name, "type": s.kind, "start_s": _r(s.start_s * scale),
                      "end_s": _r(s.end_s * scale)} for s in motion.segments],
        "mounting": [[_r(v, 9) for v in row] for row in synth.mounting],
        "flags": [],
    }
    full_info = {
        "format": TRUTH_FORMAT,
        "version": TRUTH_VERSION,
        "time_base": "device clock: true time * (1 + clock_drift_ppm * 1e-6), without jitter",
        "mounting_note": "R_pelvis_sensor: columns are the sensor axes in the pelvis frame",
        "mounting": events["mounting"],
        "n_samples_taken": synth.n_taken,
        "n_samples_delivered": int(len(block)),
        "n_samples_lost": int(synth.n_taken - len(block)),
        "n_gaps": int(np.count_nonzero(block.gap_before)),
        "n_samples_clipped": synth.n_clipped,
        "device_errors": synth.drawn.to_dict(),
        **info,
    }
    # + 0.0 turns -0.0 into 0.0 (cosmetic in the CSV).
    return Truth(block.time_s, synth.true_time_s, block.seq, np.degrees(tilt) + 0.0,
                 np.degrees(obl) + 0.0, np.degrees(rot) + 0.0, quat, events, full_info)


def _write_sample_times(path: Path, truth: Truth) -> None:
    # One '%' over a chunk of rows formats in C (the csv_io technique): fast, byte-stable.
    row = "%.6f,%.7f,%d\n"
    with open(path, "w", encoding="ascii", newline="") as fh:
        fh.write("time_s,true_time_s,seq\n")
        for i in range(0, len(truth.time_s), 50000):
            cols = zip(truth.time_s[i:i + 50000].tolist(), truth.true_time_s[i:i + 50000].tolist(),
                       truth.seq[i:i + 50000].tolist())
            flat = [v for triple in cols for v in triple]
            fh.write((row * (len(flat) // 3)) % tuple(flat))


def write_truth(truth: Truth, directory: str | Path) -> list[Path]:
    """Write angles.csv, orientation.csv (CONVENTIONS formats, via imu.csv_io),
    sample_times.csv (reported vs true time, seq), events.json and truth.json."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = [d / "angles.csv", d / "orientation.csv", d / "sample_times.csv",
             d / "events.json", d / "truth.json"]
    write_angles_csv(paths[0], truth.time_s, truth.tilt_deg, truth.obliquity_deg,
                     truth.rotation_deg)
    write_orientation_csv(paths[1], truth.time_s, truth.quat_earth_sensor)
    _write_sample_times(paths[2], truth)
    for path, doc in ((paths[3], truth.events), (paths[4], truth.info)):
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            json.dump(doc, fh, indent=1)
            fh.write("\n")
    return paths
