"""Colours and labels used on every screen and in reports.

Okabe-Ito palette (colour-blind safe; Okabe & Ito 2008, "Color Universal Design").
Left is always sky blue and right always orange, on every chart, chip and number.
"""

from __future__ import annotations

LEFT = "#56B4E9"
RIGHT = "#E69F00"
TILT = "#009E73"
OBLIQUITY = "#CC79A7"
ROTATION = "#F0E442"
FLAG = "#D55E00"
NEUTRAL = "#9aa5b1"

BACKGROUND = "#0f1720"
CARD = "#17212b"
GRID = "#2a3642"
TEXT = "#e8edf2"
MUTED = "#9aa5b1"

SIDE_COLOURS = {"left": LEFT, "right": RIGHT}
ANGLE_COLOURS = {"tilt": TILT, "obliquity": OBLIQUITY, "rotation": ROTATION}
SEGMENT_COLOURS = {"standing": "#4b5a69", "walking": "#0072B2", "running": "#009E73",
                   "exercise": "#CC79A7", "unknown": "#333f4b"}

FONT = "Inter, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


def side_colour(side: str | None) -> str:
    """The colour of a side ('left'/'right'); neutral for None or anything else."""
    return SIDE_COLOURS.get(side or "", NEUTRAL)
