"""Walking and running: pelvis pose driven by a smooth gait phase, with truth events.

The gait phase Phi(t) counts steps: Phi = k at the k-th initial contact (IC). Every
curve is a function of Phi (and of smooth per-step parameters), multiplied by an
envelope that ramps up from standing at the start (gait initiation) and back down
at the end, so a gait segment starts and ends at rest in the standing posture.

Pelvic obliquity: during the step that starts at IC_k the swing-side pelvis drops and
recovers; the obliquity is exactly 0 at IC_k, peaks at `cpd_peak_fraction` of the step
with exactly the drop set for that stance (times the per-step variability), and
returns to 0 at the next IC (an asymmetric C2 bump). Positive obliquity = right side
higher, so a right stance (left side drops) gives a positive peak, a left stance a
negative one, as in CONVENTIONS. The stance lasts `duty_factor` of the stride.

Running: the vertical motion is a spring-mass stance (half-sine vertical force, mean
= body weight) and a ballistic flight (specific force 0), plus a sharp impact
transient at each IC; walking: an inverted-pendulum-like sinusoid plus a small
heel-strike transient.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
from scipy.interpolate import CubicHermiteSpline
from scipy.signal import lfilter

from imu import GRAVITY_MPS2
from imu.simulate.curves import (IMPACT_SUPPORT_X, asymmetric_bump, bspline_series,
                                 bspline_weights, bump, impact_displacement, smooth_noise,
                                 smootherstep, smootherstep7)
from imu.simulate.motion import (POSTURES, GaitEvent, MotionError, MotionPiece, StanceSpec,
                                 n_samples, rest_piece)

SIDES = ("right", "left")
# Steps whose amplitude envelope is below this (first weight shift of gait initiation,
# last shuffle when stopping) are not listed as events: they are not real steps.
EVENT_MIN_ENVELOPE = 0.2

# Stride-time CV, per-step amplitude CV, smooth angle noise (deg RMS).
VARIABILITY: dict[str, tuple[float, float, float]] = {
    "robotic": (0.0, 0.0, 0.0),
    "healthy": (0.02, 0.07, 0.3),
    "chaotic": (0.08, 0.35, 1.5),
}


@dataclass(frozen=True)
class Turn:
    """A change of walking direction. angle_deg > 0 turns left (counter-clockwise)."""

    at_s: float
    angle_deg: float
    duration_s: float = 2.5
    speed_fraction: float = 0.6


@dataclass(frozen=True)
class GaitParams:
    """Walking or running. Defaults are walking; `for_mode('run')` gives running defaults.

    cpd_left_deg / cpd_right_deg: contralateral pelvic drop during LEFT / RIGHT stance
    (the swing-side drop per CONVENTIONS), the steady-state peak per stance.
    """

    mode: str = "walk"
    duration_s: float = 60.0
    speed_mps: float = 1.4
    cadence_spm: float | None = None       # None: from speed (112 at 1.4 m/s walking)
    cpd_left_deg: float = 4.0
    cpd_right_deg: float = 4.0
    cpd_peak_fraction: float = 0.3         # IC -> drop peak, fraction of the step
    duty_factor: float = 0.6               # stance / stride
    tilt_mean_deg: float = 1.0             # offset from standing
    tilt_range_deg: float = 3.0
    rotation_range_deg: float = 8.0
    vertical_range_m: float | None = None  # walking only; None: from speed
    height_offset_m: float = -0.01
    ml_range_m: float = 0.04
    ap_speed_range_mps: float = 0.2
    impact_peak_g: float | None = None     # None: from speed (see impact_g_for)
    impact_tau_s: float = 0.045            # rise time constant of the impact transient
    stride_time_cv: float = 0.02
    amplitude_cv: float = 0.07
    angle_noise_deg: float = 0.3
    stride_time_persistence: float = 0.6
    start_s: float = 1.5
    stop_s: float = 1.5
    treadmill: bool = False
    turns: tuple[Turn, ...] = ()
    turn_every_s: float | None = None      # automatic turns (corridor / out-and-back)
    turn_every_angle_deg: float = 180.0
    turn_lean_fraction: float = 0.3        # lean into turns: this x the centripetal angle
    first_side: str = "right"

    @classmethod
    def for_mode(cls, mode: str, **overrides: object) -> "GaitParams":
        """Defaults for 'walk' or 'run', then the given fields (units in the names)."""
        if mode not in _MODE_DEFAULTS:
            raise MotionError(f"Gait mode must be 'walk' or 'run', got {mode!r}.")
        variability = overrides.pop("variability", None)
        values: dict[str, object] = dict(_MODE_DEFAULTS[mode])
        if variability is not None:
            if variability not in VARIABILITY:
                raise MotionError(f"variability must be one of {', '.join(VARIABILITY)}, "
                                  f"got {variability!r}.")
            cv, acv, noise = VARIABILITY[str(variability)]
            values.update(stride_time_cv=cv, amplitude_cv=acv, angle_noise_deg=noise)
        values.update(overrides)
        return cls(mode=mode, **values)  # type: ignore[arg-type]


_MODE_DEFAULTS: dict[str, dict[str, object]] = {
    "walk": {},
    "run": dict(
        speed_mps=3.2, cpd_left_deg=6.0, cpd_right_deg=6.0, cpd_peak_fraction=0.35,
        duty_factor=0.36, tilt_mean_deg=5.0, tilt_range_deg=6.0, rotation_range_deg=12.0,
        height_offset_m=-0.04, ml_range_m=0.015, ap_speed_range_mps=0.4,
        impact_tau_s=0.03, start_s=2.5, stop_s=2.5, turn_lean_fraction=0.7,
    ),
}

GAIT_FIELDS = {f.name for f in fields(GaitParams)}


def cadence_for(params: GaitParams) -> float:
    """Steps per minute: the set cadence, or one that follows speed (published ranges)."""
    if params.cadence_spm is not None:
        return float(params.cadence_spm)
    if params.mode == "walk":
        return 112.0 * (params.speed_mps / 1.4) ** 0.5
    return 168.0 * (params.speed_mps / 3.2) ** 0.2


def impact_g_for(params: GaitParams) -> float:
    """Peak of the impact transient above the smooth curve, g: set, or growing with speed.

    Impact accelerations grow roughly in proportion to running speed and faster than
    linearly with walking speed.
    """
    if params.impact_peak_g is not None:
        return float(params.impact_peak_g)
    if params.mode == "walk":
        return 0.35 * (params.speed_mps / 1.4) ** 1.5
    return 2.5 * params.speed_mps / 3.2


def vertical_range_for(params: GaitParams) -> float:
    """Walking vertical excursion of the sacrum, m: set, or 4 cm at 1.4 m/s scaled with speed."""
    if params.vertical_range_m is not None:
        return float(params.vertical_range_m)
    return 0.04 * (params.speed_mps / 1.4) ** 0.5


def validate_gait(p: GaitParams) -> None:
    """Refuse settings the model cannot produce, saying which and why."""
    if p.speed_mps <= 0:
        raise MotionError(f"{p.mode} speed_mps must be > 0, got {p.speed_mps}.")
    if p.first_side not in SIDES:
        raise MotionError(f"first_side must be 'left' or 'right', got {p.first_side!r}.")
    if p.duration_s < p.start_s + p.stop_s + 1.0:
        raise MotionError(f"{p.mode} duration_s must be at least start_s + stop_s + 1 = "
                          f"{p.start_s + p.stop_s + 1.0:g} s, got {p.duration_s:g} s.")
    if p.mode == "run" and not 0.2 <= p.duty_factor < 0.5:
        raise MotionError(f"run duty_factor must be in [0.2, 0.5) (there is a flight phase), "
                          f"got {p.duty_factor}.")
    if p.mode == "walk" and not 0.5 < p.duty_factor < 0.75:
        raise MotionError(f"walk duty_factor must be in (0.5, 0.75) (double support), "
                          f"got {p.duty_factor}.")
    if not 0.1 <= p.cpd_peak_fraction <= min(0.6, 2 * p.duty_factor - 0.05):
        raise MotionError("cpd_peak_fraction must lie in [0.1, 0.6] and inside the stance, "
                          f"got {p.cpd_peak_fraction}.")
    if min(p.cpd_left_deg, p.cpd_right_deg) < 0 or max(p.cpd_left_deg, p.cpd_right_deg) > 30:
        raise MotionError("cpd_left_deg / cpd_right_deg must be in [0, 30] deg.")
    if p.treadmill and (p.turns or p.turn_every_s):
        raise MotionError("A treadmill segment cannot have turns.")
    for turn in _turn_list(p):
        if turn.at_s < p.start_s or turn.at_s + turn.duration_s > p.duration_s - p.stop_s:
            raise MotionError(f"Turn at {turn.at_s:g} s (lasting {turn.duration_s:g} s) must lie "
                              f"between the start ramp ({p.start_s:g} s) and the stop ramp "
                              f"(from {p.duration_s - p.stop_s:g} s).")


def _turn_list(p: GaitParams) -> list[Turn]:
    turns = list(p.turns)
    if p.turn_every_s:
        t = p.start_s + p.turn_every_s
        sign = 1.0
        while t + 2.5 < p.duration_s - p.stop_s:
            turns.append(Turn(t, sign * p.turn_every_angle_deg))
            sign = -sign  # alternate so an out-and-back course does not spiral
            t += p.turn_every_s + 2.5
    return sorted(turns, key=lambda tr: tr.at_s)


def _run_vertical_unit(u: np.ndarray, contact: float) -> np.ndarray:
    """Vertical position (m per s^2 of acceleration, times step period^2) over one step.

    Contact (u in [0, contact)): half-sine vertical force averaging body weight over the
    step; flight: free fall. Periodic, C2, zero mean. Multiply by T_step^2.
    """
    g = GRAVITY_MPS2
    c = contact
    peak = np.pi * g / (2.0 * c)
    v0 = -0.5 * g * (1.0 - c)

    def raw(x: np.ndarray) -> np.ndarray:
        zc = v0 * c + peak * c * c / np.pi - 0.5 * g * c * c
        vc = v0 + g - g * c
        inside = x < c
        z_contact = v0 * x + peak * (c / np.pi) * (x - (c / np.pi) * np.sin(np.pi * x / c)) \
            - 0.5 * g * x * x
        dx = x - c
        z_flight = zc + vc * dx - 0.5 * g * dx * dx
        return np.where(inside, z_contact, z_flight)

    grid = (np.arange(4000) + 0.5) / 4000
    return raw(u) - float(np.mean(raw(grid)))


def _ar1(rng: np.random.Generator, n: int, rho: float, sd: float) -> np.ndarray:
    if sd == 0:
        return np.zeros(n)
    x = lfilter([np.sqrt(1.0 - rho * rho) * sd], [1.0, -rho], rng.standard_normal(n))
    return x


def _gait_phase(p: GaitParams, t: np.ndarray, rng: np.random.Generator,
                n_steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Phase Phi(t) and local step period, from per-step periods with AR(1) variability.

    Built as t(Phi) = integral of the step period over Phi (exact bookkeeping of which
    step is which), then inverted with a C1 Hermite spline.
    """
    t0_step = 60.0 / cadence_for(p)
    eps = _ar1(rng, n_steps, p.stride_time_persistence, p.stride_time_cv)
    nodes_per_step = 40
    phi_nodes = -1.0 + np.arange((n_steps + 1) * nodes_per_step + 1) / nodes_per_step
    ramp_steps = max(p.start_s / t0_step, 1.0)
    # Gait initiation: the first steps are a little slower than the cruising cadence.
    cad_factor = 0.8 + 0.2 * smootherstep((phi_nodes + 1.0) / ramp_steps)
    period = t0_step * (1.0 + bspline_series(eps, phi_nodes - 0.5)) / cad_factor
    t_nodes = np.concatenate(([0.0], np.cumsum(0.5 * (period[1:] + period[:-1]) / nodes_per_step)))
    if t_nodes[-1] < t[-1]:
        raise MotionError("internal: too few steps planned for the gait duration")
    spline = CubicHermiteSpline(t_nodes, phi_nodes, 1.0 / period)
    phi = spline(t)
    step_period = np.interp(phi, phi_nodes, period)
    return phi, step_period, phi_nodes, t_nodes


def generate_gait(p: GaitParams, rng: np.random.Generator, rate_hz: float,
                  name: str | None = None) -> MotionPiece:
    """Walking or running from standing to standing, with IC/TO events and stances."""
    validate_gait(p)
    name = name or p.mode
    n = n_samples(p.duration_s, rate_hz) + 1
    t = np.arange(n) / rate_hz
    dur = t[-1]
    env_start = smootherstep(t / p.start_s)
    env_stop = smootherstep((dur - t) / p.stop_s)
    env = env_start * env_stop

    t_step = 60.0 / cadence_for(p)
    n_steps = int(np.ceil(dur / t_step * 1.6)) + 8
    phi, step_period, phi_nodes, t_nodes = _gait_phase(p, t, rng, n_steps)

    # Per-step amplitude multipliers (index k + 1 for step k; step -1 is the weight shift).
    def mult() -> np.ndarray:
        m = 1.0 + p.amplitude_cv * rng.standard_normal(n_steps + 1)
        return np.clip(m, 0.2, 2.5)

    a_obl, a_tilt, a_rot, a_vert, a_imp = mult(), mult(), mult(), mult(), mult()
    k_idx = np.arange(-1, n_steps)
    first_right = p.first_side == "right"
    is_right = (k_idx % 2 == 0) == first_right
    sign = np.where(is_right, 1.0, -1.0)
    cpd = np.where(is_right, p.cpd_right_deg, p.cpd_left_deg)
    amp_obl = np.radians(cpd) * a_obl
    amp_obl[0] = 0.0

    k = np.floor(phi).astype(np.int64)
    u = phi - k
    kk = np.clip(k + 1, 0, n_steps)
    f = p.cpd_peak_fraction
    obliquity = env * sign[kk] * amp_obl[kk] * asymmetric_bump(u - f, f, 1.0 - f)

    s0 = 1.0 if first_right else -1.0
    bw = bspline_weights(phi + 0.5)  # per-step values sit at step midpoints
    tilt_amp = 0.5 * np.radians(p.tilt_range_deg) * bspline_series(a_tilt, phi + 0.5, bw)
    u_tilt = 0.8 if p.mode == "walk" else 0.6
    tilt = env * (np.radians(p.tilt_mean_deg) + tilt_amp * np.cos(2 * np.pi * (phi - u_tilt)))
    rot_amp = 0.5 * np.radians(p.rotation_range_deg) * bspline_series(a_rot, phi + 0.5, bw)
    rotation = env * s0 * rot_amp * np.cos(np.pi * phi)

    noise_rad = np.radians(p.angle_noise_deg)
    if noise_rad > 0:
        tilt = tilt + env * smooth_noise(rng, n, rate_hz, 3.0, noise_rad)
        obliquity = obliquity + env * smooth_noise(rng, n, rate_hz, 3.0, noise_rad)
        rotation = rotation + env * smooth_noise(rng, n, rate_hz, 3.0, noise_rad)

    # Path direction and speed (turns slow the walker down).
    turns = _turn_list(p)
    path_heading = np.zeros(n)
    speed_factor = np.ones(n)
    for tr in turns:
        i0 = max(0, int(tr.at_s * rate_hz))
        i1 = min(n, int(np.ceil((tr.at_s + tr.duration_s) * rate_hz)) + 1)
        x = (t[i0:i1] - tr.at_s) / tr.duration_s
        path_heading[i0:i1] += np.radians(tr.angle_deg) * smootherstep7(x)
        path_heading[i1:] += np.radians(tr.angle_deg)
        speed_factor[i0:i1] -= (1.0 - tr.speed_fraction) * bump(x)

    if turns and p.turn_lean_fraction:
        # Lean into the turn: the pelvis rolls towards the inside (turning left, the left
        # side goes down: obliquity > 0) by part of the centripetal angle atan(v w / g).
        turn_rate = np.gradient(path_heading) * rate_hz
        lean = p.turn_lean_fraction * np.arctan(p.speed_mps * env * speed_factor * turn_rate
                                                / GRAVITY_MPS2)
        obliquity = obliquity + lean

    u_mid = 0.6 if p.mode == "walk" else p.duty_factor
    v_fluct = env * 0.5 * p.ap_speed_range_mps * -np.cos(2 * np.pi * (phi - u_mid))
    v_mean = env * p.speed_mps * speed_factor
    ml = env * 0.5 * p.ml_range_m * -s0 * np.cos(np.pi * (phi - u_mid))

    def integrate(v: np.ndarray) -> np.ndarray:
        return np.concatenate(([0.0], np.cumsum(0.5 * (v[1:] + v[:-1])))) / rate_hz

    pos = np.zeros((n, 3))
    c, s = np.cos(path_heading), np.sin(path_heading)
    if p.treadmill:
        # The belt carries the mean speed: only the within-step surge remains.
        pos[:, 0] = integrate(v_fluct)
    else:
        v = v_mean + v_fluct
        pos[:, 0] = integrate(v * c)
        pos[:, 1] = integrate(v * s)
    pos[:, 0] -= ml * s
    pos[:, 1] += ml * c

    z0 = POSTURES["standing"].sacrum_height_m
    vert_amp = bspline_series(a_vert, phi + 0.5, bw)
    if p.mode == "walk":
        z_osc = 0.5 * vertical_range_for(p) * vert_amp * -np.cos(2 * np.pi * (phi - 0.1))
    else:
        z_osc = step_period ** 2 * vert_amp * _run_vertical_unit(u, 2.0 * p.duty_factor)
    pos[:, 2] = z0 + env * (p.height_offset_m + z_osc)

    # Initial contacts (integer phase) and toe-offs (IC + duty factor of a stride).
    k_first = 0
    k_last = int(np.floor(phi[-1]))
    ic_k = np.arange(k_first, k_last + 1)
    ic_t = np.interp(ic_k, phi_nodes, t_nodes)
    to_k = np.arange(-2, k_last + 1)
    to_phi = to_k + 2.0 * p.duty_factor
    to_t = np.interp(to_phi, phi_nodes, t_nodes)

    # Impact transient at each IC: sharp vertical spike, smaller braking spike forward.
    # Scaled by the envelope as a whole so the slow tail also vanishes at the segment end.
    g = GRAVITY_MPS2
    tau = p.impact_tau_s
    win = int(np.ceil(IMPACT_SUPPORT_X * tau * rate_hz))
    imp = np.zeros(n)
    for kk_ic, t_ic in zip(ic_k, ic_t):
        i0 = int(np.ceil(t_ic * rate_hz))
        if i0 >= n:
            break
        i1 = min(n, i0 + win)
        a = impact_g_for(p) * g * a_imp[min(kk_ic + 1, n_steps)]
        imp[i0:i1] += a * impact_displacement(t[i0:i1] - t_ic, tau)
    imp *= env
    pos[:, 2] += imp
    pos[:, 0] -= 0.3 * imp * c
    pos[:, 1] -= 0.3 * imp * s

    piece = rest_piece(p.mode, name, "standing", n)
    piece.tilt_rad = tilt
    piece.obliquity_rad = obliquity
    piece.heading_rad = path_heading + rotation
    piece.pos_m = pos

    def side_of(step: int) -> str:
        return SIDES[0] if ((step % 2 == 0) == first_right) else SIDES[1]

    def env_at(time_s: float) -> float:
        return float(np.interp(time_s, t, env))

    ok_ic = {int(kq): float(tq) for kq, tq in zip(ic_k, ic_t)
             if 0 <= tq <= dur and env_at(tq) >= EVENT_MIN_ENVELOPE}
    ok_to = {int(kq): float(tq) for kq, tq in zip(to_k, to_t)
             if 0 <= tq <= dur and env_at(tq) >= EVENT_MIN_ENVELOPE}
    events = [GaitEvent(tq, "ic", side_of(kq)) for kq, tq in ok_ic.items()]
    events += [GaitEvent(tq, "to", side_of(kq)) for kq, tq in ok_to.items()]
    events.sort(key=lambda e: e.time_s)
    stances = []
    for kq, tq in ok_ic.items():
        if kq in ok_to and kq + 2 in ok_ic:
            t_next = ok_ic[kq + 2]
            if env_start[int(tq * rate_hz)] < 0.99:
                phase = "start"
            elif env_stop[min(n - 1, int(t_next * rate_hz))] < 0.99:
                phase = "stop"
            elif any(tr.at_s < t_next and tr.at_s + tr.duration_s > tq for tr in turns):
                phase = "turn"
            else:
                phase = "steady"
            stances.append(StanceSpec(side_of(kq), tq, ok_to[kq], t_next, phase))
    piece.events = events
    piece.stances = stances
    return piece


def with_duration(p: GaitParams, scale: float) -> GaitParams:
    """The same gait with its duration (and automatic/explicit turn times) scaled."""
    turns = tuple(replace(tr, at_s=tr.at_s * scale) for tr in p.turns)
    return replace(p, duration_s=p.duration_s * scale, turns=turns)
