"""The emotion labels every layer shares: their order, their colours, the per-face columns."""

# the canonical order of the FER-2013 CSV: a label is an index into this tuple
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# BGR colour per emotion: the boxes drawn on frames, the timeline plots and (as CSS) the page
COLORS = {
    "angry": (40, 40, 220), "disgust": (60, 140, 40), "fear": (160, 60, 160),
    "happy": (40, 200, 240), "sad": (200, 120, 40), "surprise": (40, 160, 255),
    "neutral": (190, 190, 190),
}

# one row per face per analysed frame: analyze.py's faces.csv, the Parquet dataset of a
# batch run and the page's recorded CSV
FACE_COLUMNS = ("frame", "time_s", "face_id", "x", "y", "w", "h", "emotion", "confidence",
                *EMOTIONS)


def per_class(values: dict[str, float], default: float) -> tuple[float, ...]:
    """``values`` named by emotion, in EMOTIONS order (``default`` for those not named);
    ValueError naming an unknown class."""
    unknown = sorted(set(values) - set(EMOTIONS))
    if unknown:
        raise ValueError(f"unknown class {unknown[0]!r}; classes: {', '.join(EMOTIONS)}")
    return tuple(float(values.get(e, default)) for e in EMOTIONS)


def css_color(emotion: str) -> str:
    """The colour of ``emotion`` as CSS ``#rrggbb``."""
    b, g, r = COLORS[emotion]
    return f"#{r:02x}{g:02x}{b:02x}"


def rgb_color(emotion: str) -> tuple[float, float, float]:
    """The colour of ``emotion`` as matplotlib's (r, g, b) in 0..1."""
    b, g, r = COLORS[emotion]
    return r / 255, g / 255, b / 255
