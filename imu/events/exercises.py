"""What the rep analysis knows about each rehab exercise: posture, how to tell the
working side, and which angle carries the fault the flags look for.

Side cues (working side = the leg that works / stands):
- lunge: the pelvis turns towards the front leg at depth (a tight rear hip flexor
  pulls the rear side forward), so rotation < 0 (turned right) means right.
- hip-hike: the free side first drops, then hikes: the first obliquity excursion is
  positive (right side higher) when standing on the right.
- single-leg-squat: done from a single-leg stance held for the set: lifting the free
  foot hikes the free side, so the set's resting obliquity is negative (left higher)
  when standing on the right.
- single-leg-stance: the weight shifts sideways onto the stance leg as the other foot
  lifts (sign of the sideways displacement at the start of the hold, and of the shift
  back at its end when that is unclear).
- kickback: on hands and knees, the working side rises and turns back with the leg.
- bridge (both legs): no side.
"""

from __future__ import annotations

from dataclasses import dataclass

POSTURE_STANDING = "standing"
POSTURE_SUPINE = "supine"
POSTURE_QUADRUPED = "quadruped"
# Pelvic tilt of each posture at rest relative to standing: the rehab reps move away
# from it (a lunge tips forward, a bridge lifts the pelvis past flat).
NEUTRAL_TILT_DEG = {POSTURE_STANDING: 0.0, POSTURE_SUPINE: -90.0, POSTURE_QUADRUPED: 90.0}


@dataclass(frozen=True)
class ExerciseInfo:
    name: str
    posture: str
    side_cue: str          # "rotation", "first-obliquity", "rest-obliquity", "lateral-shift",
                           # "kickback", "none"
    label: str


EXERCISE_INFO: dict[str, ExerciseInfo] = {e.name: e for e in (
    ExerciseInfo("lunge", POSTURE_STANDING, "rotation", "lunge"),
    ExerciseInfo("single-leg-squat", POSTURE_STANDING, "rest-obliquity", "single-leg squat"),
    ExerciseInfo("single-leg-stance", POSTURE_STANDING, "lateral-shift", "single-leg stance"),
    ExerciseInfo("hip-hike", POSTURE_STANDING, "first-obliquity", "side-hip hike"),
    ExerciseInfo("bridge", POSTURE_SUPINE, "none", "hip bridge"),
    ExerciseInfo("kickback", POSTURE_QUADRUPED, "kickback", "glute kickback"),
)}

REP_EXERCISES = tuple(EXERCISE_INFO)


def posture_of(tilt_deg: float) -> str:
    """Lying on the back turns the pelvis ~90 deg posteriorly, hands and knees ~90 deg
    anteriorly, relative to standing."""
    if tilt_deg < -50:
        return POSTURE_SUPINE
    if tilt_deg > 50:
        return POSTURE_QUADRUPED
    return POSTURE_STANDING


#: A lunge or squat bends the hips, which tips the pelvis forward: by 3.5 deg at the
#: least in the simulated lunges (typically 5-15 deg). A standing excursion with less
#: tilt that is neither a hip hike nor a long stance is a shift of stance (a free foot
#: put down after a set of single-leg squats levels the pelvis by 2 deg), not a rep.
LUNGE_MIN_TILT_ROM_DEG = 2.0
#: A standing rep held at least this long is a single-leg stance.
STANCE_MIN_S = 8.0
#: A bridge lifts the sacrum by tilting the pelvis posteriorly, 25 deg in the simulated
#: ones (10-30 in people); lying on the back, a smaller excursion is a shift between
#: sets (a 1.9 deg one after the last bridge of a set was counted as one more).
BRIDGE_MIN_TILT_ROM_DEG = 5.0


def classify_rep(posture: str, duration_s: float, tilt_rom_deg: float,
                 obliquity_rom_deg: float, rotation_rom_deg: float,
                 tilt_peak_dev_deg: float) -> str | None:
    """Best guess of the exercise from the posture and the rep's shape (auto mode).

    Lying on the back: a bridge if the pelvis tilts 5 deg or more. Standing: a long
    still hold is a single-leg stance; an obliquity-dominated rep a hip
    hike; a deep forward tilt a single-leg squat (the trunk leans forward over one
    leg); a rep with some tilt a lunge; None for the rest (a shift of stance, no rep).
    Choose the exercise explicitly when the guess is wrong.
    """
    if posture == POSTURE_SUPINE:
        return "bridge" if tilt_rom_deg >= BRIDGE_MIN_TILT_ROM_DEG else None
    if posture == POSTURE_QUADRUPED:
        return "kickback"
    if duration_s >= STANCE_MIN_S:
        return "single-leg-stance"
    if obliquity_rom_deg >= 4.0 and obliquity_rom_deg >= 2.0 * max(tilt_rom_deg, rotation_rom_deg):
        return "hip-hike"
    if tilt_peak_dev_deg >= 11.0:
        return "single-leg-squat"
    if tilt_rom_deg < LUNGE_MIN_TILT_ROM_DEG:
        return None
    return "lunge"
