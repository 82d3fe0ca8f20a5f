"""pelvis-monitor core: samples, recordings, fusion, pelvis angles, events.

Layers run one way: decoding -> sources -> fusion -> pelvis angles -> events ->
metrics -> flags. The dashboard imports this package, never the reverse.
"""

__version__ = "0.1.0"

GRAVITY_MPS2 = 9.80665
