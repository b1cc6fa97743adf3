"""The one definition of the label order (the canonical order of the FER-2013 CSV)."""

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
