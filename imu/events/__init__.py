"""Events, metrics and flags: strides and reps from the pelvis angles."""

from imu.events.model import (AnalysisEvent, Flag, GaitEvent, Rep, Segment, Stride,
                              Variability, events_document)

__all__ = ["AnalysisEvent", "Flag", "GaitEvent", "Rep", "Segment", "Stride", "Variability",
           "events_document"]
