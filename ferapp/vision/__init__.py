"""From a frame to its faces: sources and captures (sources, broadcast), image intake
(headers read first, decoders at the working size), face boxes and detectors, crop and
alignment, the detect -> crop -> classify -> draw pipeline, tracking and smoothing, faces
carried by motion between detector passes (motion), two stages on two threads (stages),
the stream step, and the served classifier (ONNX Runtime)."""
