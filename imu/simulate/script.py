"""Session scripts: a small declarative TOML or JSON description of a whole workout.

    name = "my session"
    seed = 7

    [sensor]
    rate_hz = 200
    mounting = "random"        # upright | random | clip | clip-tilted | upside-down | {...}
    errors = "typical"         # none | typical | poor, or a table of fields (+ preset = ...)

    [[segment]]
    type = "stand"
    duration_s = 10

    [[segment]]
    type = "run"
    duration_s = 300
    speed_mps = 3.2
    cpd_left_deg = 4
    cpd_right_deg = 9

Units are part of every field name (_s, _m, _mps, _deg, _spm, _g, _hz, _pct, _ppm).
Errors name the segment (number, type and, for TOML, the line) and say what to write.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from imu.errors import InputFileError, PelvisMonitorError
from imu.simulate.exercises import (EXERCISE_FIELDS, EXERCISES, ExerciseParams, generate_exercise,
                                    validate_exercise)
from imu.simulate.gait import (GAIT_FIELDS, GaitParams, Turn, generate_gait, validate_gait,
                               with_duration)
from imu.simulate.motion import FINE_RATE_HZ, POSTURES, MotionPiece
from imu.simulate.sensor_errors import ERROR_FIELDS, ERROR_PRESETS, SensorErrorModel, \
    with_overrides
from imu.simulate.standing import HingeParams, StandParams, generate_hinges, generate_stand
from imu.simulate.transitions import generate_transition, transition_path


class ScriptError(InputFileError):
    """A session script is malformed: names the file, the segment and the line where known."""


_UNITS = {"_s": "seconds", "_m": "metres", "_mps": "m/s", "_deg": "degrees",
          "_spm": "steps/min", "_g": "g", "_hz": "Hz", "_pct": "percent", "_ppm": "ppm",
          "_mg": "mg", "_dps": "deg/s", "_us": "microseconds", "_rthz": "per sqrt(Hz)"}

SEGMENT_ALIASES = {"rest": "stand", "calibrate": "hinges", "forward_lunge": "lunge",
                   "trendelenburg": "single_leg_stance", "glute_kickback": "kickback",
                   "hip_bridge": "bridge"}
SEGMENT_TYPES = ("stand", "hinges", "walk", "run") + tuple(EXERCISES)
# Scaled stand segments keep at least this long: quiet standing is the vertical calibration.
MIN_STAND_S = 5.0

CALIBRATION_TOML = """
[[segment]]
type = "stand"
duration_s = 10

[[segment]]
type = "hinges"
count = 3

[[segment]]
type = "stand"
duration_s = 5
"""
"""The segments a session starts with so that the pipeline calibrates (quiet standing,
three hip hinges, standing again): TOML to put right after a script's [sensor] table."""


@dataclass(frozen=True)
class SensorSettings:
    """The virtual device: sample rate, mounting, error model, packet size, lever arm."""

    rate_hz: float = 200.0
    mounting: Any = "random"
    errors: SensorErrorModel = field(default_factory=SensorErrorModel)
    error_preset: str = "typical"
    packet_samples: int = 6
    lever_arm_m: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Segment:
    """One script segment: its type, a label, the model parameters and where it was written."""

    type: str
    name: str
    params: Any
    posture: str = "standing"
    line: int | None = None


@dataclass(frozen=True)
class SessionScript:
    name: str
    segments: tuple[Segment, ...]
    sensor: SensorSettings = field(default_factory=SensorSettings)
    seed: int = 0
    description: str = ""
    source: str = "<script>"


# ----------------------------------------------------------------------------- parsing

class _Where:
    """Finds the line of a segment header or of a key inside it (TOML only)."""

    def __init__(self, source: str, text: str | None) -> None:
        self.source = source
        self.seg_lines: list[int] = []
        self.lines = text.splitlines() if text is not None else []
        for i, line in enumerate(self.lines):
            if re.match(r"^\s*\[\[\s*segments?\s*\]\]", line):
                self.seg_lines.append(i + 1)

    def line(self, seg: int | None, key: str | None = None) -> int | None:
        if seg is None or seg >= len(self.seg_lines):
            return None
        start = self.seg_lines[seg]
        if key is None:
            return start
        end = self.seg_lines[seg + 1] if seg + 1 < len(self.seg_lines) else len(self.lines) + 1
        for j in range(start, end - 1):
            if re.match(rf"^\s*{re.escape(key)}\s*=", self.lines[j]):
                return j + 1
        return start

    def error(self, problem: str, seg: int | None = None, key: str | None = None,
              hint: str | None = None) -> ScriptError:
        return ScriptError(self.source, problem, line=self.line(seg, key), hint=hint)


def _unit_of(key: str) -> str | None:
    for suffix in sorted(_UNITS, key=len, reverse=True):
        if key.endswith(suffix):
            return _UNITS[suffix]
    return None


def _suggest(key: str, valid: set[str]) -> str | None:
    stem = re.sub(r"_[a-z]+$", "", key)
    candidates = sorted(valid)
    hits = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if not hits:
        hits = [v for v in candidates if re.sub(r"_[a-z]+$", "", v) == stem or v.startswith(key)]
    if not hits:
        return None
    unit = _unit_of(hits[0])
    return f"did you mean '{hits[0]}'" + (f" (in {unit})" if unit else "") + "?"


def _number(where: _Where, seg: int | None, key: str, value: Any, *, integer: bool = False,
            minimum: float | None = None, strict_min: bool = False) -> float:
    unit = _unit_of(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        text = f"'{key}' must be a number" + (f" in {unit}" if unit else "")
        if isinstance(value, str) and re.search(r"[a-zA-Z/]", value):
            text += f", got the text {value!r}: write the number alone, the unit is in the name"
        else:
            text += f", got {value!r}"
        raise where.error(text + ".", seg, key)
    if integer and int(value) != value:
        raise where.error(f"'{key}' must be a whole number, got {value!r}.", seg, key)
    v = float(value)
    if not np.isfinite(v):
        raise where.error(f"'{key}' must be finite, got {value!r}.", seg, key)
    if minimum is not None and (v < minimum or (strict_min and v == minimum)):
        rel = ">" if strict_min else ">="
        raise where.error(f"'{key}' must be {rel} {minimum:g}" + (f" {unit}" if unit else "")
                          + f", got {v:g}.", seg, key)
    return v


def _seg_label(i: int, kind: str) -> str:
    return f"segment {i + 1} ({kind})"


def _coerce(where: _Where, seg: int, kind: str, key: str, value: Any, default: Any) -> Any:
    """Check one field against the type of its default and the sign its unit implies."""
    label = _seg_label(seg, kind)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise where.error(f"{label}: '{key}' must be true or false, got {value!r}.", seg, key)
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise where.error(f"{label}: '{key}' must be a text value, got {value!r}.", seg, key)
        return value
    if isinstance(default, tuple):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise where.error(f"{label}: '{key}' must be a list, got {value!r}.", seg, key)
        return tuple(value)
    is_int = isinstance(default, int)
    minimum = 0.0 if (key.endswith("_s") or key in ("sets", "reps", "count")) else None
    try:
        v = _number(where, seg, key, value, integer=is_int, minimum=minimum)
    except ScriptError as exc:
        raise where.error(f"{label}: {exc.problem}", seg, key) from None
    return int(v) if is_int else v


def _defaults(cls: type) -> dict[str, Any]:
    return {f.name: f.default for f in fields(cls) if f.default is not MISSING}


def _parse_segment(where: _Where, i: int, raw: Any) -> Segment:
    if not isinstance(raw, dict):
        raise where.error(f"segment {i + 1} must be a table of fields, got {raw!r}.", i)
    if "type" not in raw:
        raise where.error(f"segment {i + 1} has no 'type'.", i,
                          hint=f"types: {', '.join(SEGMENT_TYPES)}.")
    kind = SEGMENT_ALIASES.get(raw["type"], raw["type"])
    if kind not in SEGMENT_TYPES:
        guess = difflib.get_close_matches(str(raw["type"]), SEGMENT_TYPES, n=1)
        raise where.error(f"segment {i + 1}: unknown segment type {raw['type']!r}.", i, "type",
                          hint=(f"did you mean '{guess[0]}'? " if guess else "")
                          + f"Types: {', '.join(SEGMENT_TYPES)}.")
    label = _seg_label(i, kind)
    body = {k: v for k, v in raw.items() if k != "type"}
    name = str(body.pop("name", kind))
    posture = "standing"

    if kind in ("stand", "hinges"):
        cls = StandParams if kind == "stand" else HingeParams
        if kind == "stand":
            posture = body.pop("posture", "standing")
            if posture not in POSTURES:
                raise where.error(f"{label}: posture must be one of {', '.join(POSTURES)}, "
                                  f"got {posture!r}.", i, "posture")
        params = _build(where, i, kind, cls, body)
        if kind == "stand" and params.duration_s <= 0:
            raise where.error(f"{label}: 'duration_s' must be > 0 seconds, got "
                              f"{params.duration_s:g}.", i, "duration_s")
        if kind == "hinges" and params.count < 1:
            raise where.error(f"{label}: 'count' must be >= 1.", i, "count")
        return Segment(kind, name, params, posture, where.line(i))

    if kind in ("walk", "run"):
        valid = (GAIT_FIELDS - {"mode", "turns"}) | {"turns", "variability"}
        _check_keys(where, i, kind, body, valid)
        vals: dict[str, Any] = {}
        defaults = _defaults(GaitParams)
        for k, v in body.items():
            if k == "turns":
                vals["turns"] = _turns(where, i, kind, v)
            elif k == "variability":
                vals["variability"] = v
            elif k in ("cadence_spm", "turn_every_s", "impact_peak_g", "vertical_range_m"):
                vals[k] = None if v is None else _coerce(where, i, kind, k, v, 0.0)
            else:
                vals[k] = _coerce(where, i, kind, k, v, defaults[k])
        if vals.get("duration_s", 1.0) <= 0:
            raise where.error(f"{label}: 'duration_s' must be > 0 seconds.", i, "duration_s")
        try:
            params = GaitParams.for_mode(kind, **vals)
            validate_gait(params)
        except PelvisMonitorError as exc:
            raise where.error(f"{label}: {exc}", i) from None
        return Segment(kind, name, params, posture, where.line(i))

    # Exercises: depth_m / depth_deg (unit per exercise) or depth_scale.
    spec = EXERCISES[kind]
    valid = (EXERCISE_FIELDS - {"exercise"}) | {"depth_m", "depth_deg"}
    _check_keys(where, i, kind, body, valid)
    depth_keys = [k for k in ("depth_m", "depth_deg", "depth_scale") if k in body]
    if len(depth_keys) > 1:
        raise where.error(f"{label}: give only one of {depth_keys}.", i, depth_keys[1])
    if depth_keys and depth_keys[0] != "depth_scale":
        key = depth_keys[0]
        unit = key.split("_")[1]
        if spec.depth_unit != unit:
            alt = f"depth_{spec.depth_unit}" if spec.depth_unit else "depth_scale"
            raise where.error(f"{label}: {kind} has no '{key}'; use '{alt}'"
                              + (" (1.0 = default depth)." if alt == "depth_scale" else "."),
                              i, key)
        d = _number(where, i, key, body.pop(key), minimum=0.0, strict_min=True)
        body["depth_scale"] = d / spec.default_depth
    vals = {}
    defaults = _defaults(ExerciseParams)
    for k, v in body.items():
        default = defaults[k] if defaults.get(k) is not None else 0.0
        vals[k] = _coerce(where, i, kind, k, v, default)
    try:
        params = ExerciseParams(exercise=kind, **vals)
        validate_exercise(params)
    except PelvisMonitorError as exc:
        raise where.error(f"{label}: {exc}", i) from None
    return Segment(kind, name, params, spec.base_posture, where.line(i))


def _check_keys(where: _Where, i: int, kind: str, body: dict, valid: set[str]) -> None:
    for k in body:
        if k not in valid:
            hint = _suggest(k, valid)
            raise where.error(f"{_seg_label(i, kind)}: unknown field '{k}'.", i, k,
                              hint=(hint + " " if hint else "")
                              + f"Fields: {', '.join(sorted(valid))}.")


def _build(where: _Where, i: int, kind: str, cls: type, body: dict) -> Any:
    valid = {f.name for f in fields(cls)}
    _check_keys(where, i, kind, body, valid)
    defaults = _defaults(cls)
    vals = {k: _coerce(where, i, kind, k, v, defaults[k]) for k, v in body.items()}
    return cls(**vals)


def _turns(where: _Where, i: int, kind: str, raw: Any) -> tuple[Turn, ...]:
    if not isinstance(raw, list):
        raise where.error(f"{_seg_label(i, kind)}: 'turns' must be a list of "
                          "{at_s, angle_deg, duration_s} tables.", i, "turns")
    out = []
    valid = {f.name for f in fields(Turn)}
    for tr in raw:
        if not isinstance(tr, dict) or "at_s" not in tr or "angle_deg" not in tr:
            raise where.error(f"{_seg_label(i, kind)}: each turn needs at_s and angle_deg, "
                              f"got {tr!r}.", i, "turns")
        bad = set(tr) - valid
        if bad:
            raise where.error(f"{_seg_label(i, kind)}: unknown turn field(s) {sorted(bad)}; "
                              f"fields: {', '.join(sorted(valid))}.", i, "turns")
        out.append(Turn(**{k: _number(where, i, k, v, minimum=0.0 if k.endswith("_s") else None)
                           for k, v in tr.items()}))
    return tuple(out)


def _parse_sensor(where: _Where, raw: Any) -> SensorSettings:
    if raw is None:
        return SensorSettings()
    if not isinstance(raw, dict):
        raise where.error("[sensor] must be a table.")
    valid = {"rate_hz", "mounting", "errors", "packet_samples", "lever_arm_m"}
    for k in raw:
        if k not in valid:
            hint = _suggest(k, valid)
            raise where.error(f"[sensor]: unknown field '{k}'.",
                              hint=(hint + " " if hint else "")
                              + f"Fields: {', '.join(sorted(valid))}.")
    s = SensorSettings()
    rate = _number(where, None, "rate_hz", raw.get("rate_hz", s.rate_hz), minimum=1.0)
    if rate > 2000:
        raise where.error(f"[sensor]: rate_hz must be <= 2000 (the motion grid is "
                          f"{FINE_RATE_HZ:g} Hz), got {rate:g}.")
    packet = int(_number(where, None, "packet_samples", raw.get("packet_samples", 6),
                         integer=True, minimum=1.0))
    lever = raw.get("lever_arm_m", [0.0, 0.0, 0.0])
    if not (isinstance(lever, list) and len(lever) == 3):
        raise where.error("[sensor]: lever_arm_m must be [x, y, z] in metres (pelvis frame).")
    lever_t = tuple(_number(where, None, "lever_arm_m", v) for v in lever)
    errors_raw = raw.get("errors", "typical")
    preset = "typical"
    if isinstance(errors_raw, str):
        if errors_raw not in ERROR_PRESETS:
            raise where.error(f"[sensor]: errors must be one of {', '.join(ERROR_PRESETS)} "
                              f"or a table, got {errors_raw!r}.")
        preset, model = errors_raw, ERROR_PRESETS[errors_raw]
    elif isinstance(errors_raw, dict):
        over = dict(errors_raw)
        preset = over.pop("preset", "typical")
        if preset not in ERROR_PRESETS:
            raise where.error(f"[sensor.errors]: preset must be one of {', '.join(ERROR_PRESETS)}.")
        for k, v in over.items():
            if k not in ERROR_FIELDS:
                hint = _suggest(k, ERROR_FIELDS)
                raise where.error(f"[sensor.errors]: unknown field '{k}'.",
                                  hint=(hint + " " if hint else "")
                                  + f"Fields: {', '.join(sorted(ERROR_FIELDS))}.")
            if k not in ("quantize", "outages") and not (k == "clock_drift_ppm" and v is None):
                _number(where, None, k, v, minimum=None if k == "clock_drift_ppm" else 0.0)
        model = with_overrides(ERROR_PRESETS[preset], over)
    else:
        raise where.error("[sensor]: errors must be a preset name or a table.")
    mounting = raw.get("mounting", "random")
    return SensorSettings(rate, mounting, model, preset, packet, lever_t)  # type: ignore[arg-type]


def parse_script(doc: dict, source: str = "<script>", text: str | None = None) -> SessionScript:
    """Validate a script document (from TOML or JSON) into a SessionScript."""
    where = _Where(source, text)
    if not isinstance(doc, dict):
        raise where.error("A session script must be a table / JSON object.")
    valid_top = {"name", "description", "seed", "sensor", "segment", "segments"}
    for k in doc:
        if k not in valid_top:
            hint = _suggest(k, valid_top)
            raise where.error(f"unknown top-level field '{k}'.",
                              hint=(hint + " " if hint else "")
                              + f"Fields: {', '.join(sorted(valid_top))}.")
    segs = doc.get("segment", doc.get("segments"))
    if not segs or not isinstance(segs, list):
        raise where.error("the script has no segments.",
                          hint="add [[segment]] tables (TOML) or a \"segments\" list (JSON).")
    seed = doc.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise where.error(f"seed must be a whole number >= 0, got {seed!r}.")
    segments = tuple(_parse_segment(where, i, s) for i, s in enumerate(segs))
    return SessionScript(name=str(doc.get("name", Path(source).stem)), segments=segments,
                         sensor=_parse_sensor(where, doc.get("sensor")), seed=seed,
                         description=str(doc.get("description", "")), source=source)


def parse_text(text: str, source: str = "<script>", fmt: str | None = None) -> SessionScript:
    """Parse TOML (default) or JSON text."""
    fmt = fmt or ("json" if text.lstrip().startswith("{") else "toml")
    try:
        if fmt == "json":
            doc = json.loads(text)
        else:
            doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ScriptError(source, f"not valid TOML: {exc}", line=int(m.group(1)) if m else None) \
            from None
    except json.JSONDecodeError as exc:
        raise ScriptError(source, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
    return parse_script(doc, source, text if fmt == "toml" else None)


def load_script(path: str | Path) -> SessionScript:
    """Read a .toml or .json session script."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(str(p), f"cannot read the script: {exc.strerror}.") from None
    return parse_text(text, str(p), "json" if p.suffix.lower() == ".json" else "toml")


# ----------------------------------------------------------------------------- building

def scaled(seg: Segment, scale: float) -> Segment:
    """The segment with its time-based parts scaled (durations, holds, rests); reps kept."""
    if scale == 1.0:
        return seg
    p = seg.params
    if isinstance(p, StandParams):
        # Never below 5 s (or the original if shorter): the pipeline calibrates on standing.
        floor = min(p.duration_s, MIN_STAND_S)
        return replace(seg, params=replace(p, duration_s=max(p.duration_s * scale, floor)))
    if isinstance(p, GaitParams):
        q = with_duration(p, scale)
        shortest = q.start_s + q.stop_s + 1.0
        if q.duration_s < shortest:
            q = replace(q, duration_s=shortest, turns=(), turn_every_s=None)
        elif q.turn_every_s:
            q = replace(q, turn_every_s=q.turn_every_s * scale)
        return replace(seg, params=q)
    if isinstance(p, ExerciseParams):
        hold = p.hold_s
        if p.exercise == "single_leg_stance":
            hold = (hold if hold is not None else EXERCISES[p.exercise].tempo["hold_s"]) * scale
        return replace(seg, params=replace(p, rest_between_sets_s=p.rest_between_sets_s * scale,
                                           rest_between_sides_s=p.rest_between_sides_s * scale,
                                           hold_s=hold))
    return seg


def segment_rng(seed: int, index: int) -> np.random.Generator:
    """Each segment has its own random stream: editing one leaves the others unchanged."""
    return np.random.default_rng([seed, 1, index])


def build_pieces(script: SessionScript, seed: int | None = None, duration_scale: float = 1.0,
                 rate_hz: float = FINE_RATE_HZ) -> list[MotionPiece]:
    """Motion pieces for every segment, with posture transitions inserted where needed."""
    seed = script.seed if seed is None else seed
    pieces: list[MotionPiece] = []
    posture = "standing"
    for i, seg in enumerate(script.segments):
        seg = scaled(seg, duration_scale)
        for src, dst in transition_path(posture, seg.posture):
            pieces.append(generate_transition(src, dst, rate_hz))
        rng = segment_rng(seed, i)
        try:
            if seg.type == "stand":
                piece = generate_stand(seg.params, seg.posture, rng, rate_hz, name=seg.name)
            elif seg.type == "hinges":
                piece = generate_hinges(seg.params, rng, rate_hz, name=seg.name)
            elif seg.type in ("walk", "run"):
                piece = generate_gait(seg.params, rng, rate_hz, name=seg.name)
            else:
                piece = generate_exercise(seg.params, rng, rate_hz, name=seg.name)
        except PelvisMonitorError as exc:
            where = f", line {seg.line}" if seg.line else ""
            raise ScriptError(script.source, f"{_seg_label(i, seg.type)}{where}: {exc}") from None
        pieces.append(piece)
        posture = piece.end_posture
    return pieces
