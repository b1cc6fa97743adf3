"""ferapp.vision.stream: the stream step holds a face through short detector misses."""

import numpy as np

from ferapp.vision.stream import StreamAnnotator
from tests.helpers import face_result


def test_stream_holds_a_face_through_short_misses():
    class Flaky:
        def __init__(self, pattern):
            self.pattern, self.n = pattern, 0

        def detect(self, frame):
            present = self.pattern[self.n % len(self.pattern)]
            self.n += 1
            return [(100, 10, 50, 50)] if present else []

        def analyze(self, frame, faces=None):
            return [face_result(f[0]) for f in (self.detect(frame) if faces is None else faces)]

    frame = np.zeros((120, 200, 3), np.uint8)
    live = StreamAnnotator(Flaky([True, False, False, True, False, True]), hold=2,
                           detect_every=1)
    counts = [len(live(frame.copy())[1]) for _ in range(6)]
    assert counts == [1, 1, 1, 1, 1, 1]  # no flicker
    gone = StreamAnnotator(Flaky([True, False, False, False, False]), hold=2, detect_every=1)
    assert [len(gone(frame.copy())[1]) for _ in range(5)] == [1, 1, 1, 0, 0]
