"""From a frame to its faces: sources and captures (sources, broadcast), image intake
(headers read first, decoders at the working size), face boxes and detectors, crop and
alignment, the detect -> crop -> classify -> draw pipeline, tracking and smoothing, the
stream step, and the served classifier (ONNX Runtime)."""
