"""The facial-expression app's library: everything that is not an entry point.

Layers, each importing only from the ones below it (tests/test_layout.py checks it):

* ``web``      the Flask pieces: JSON API, pages and MJPEG stream, visitors' cameras, the
               decode memory budget, Host/Origin guards and CSP, the token, the servers
* ``offline``  recordings and photo folders to CSV/Parquet/MP4/timelines, one machine or Ray
* ``learning`` networks, FER-2013 and FER+ data, targets and augmentation, callbacks, class
               bias, weight averaging, metrics and evaluation, export and int8 quantisation
* ``vision``   sources and captures, image intake (headers, then decoders), face
               detectors, crop and alignment, the detect -> crop -> classify -> draw
               pipeline, tracking and smoothing, motion between detector passes, two
               stages on two threads, the stream step, the served classifier (ONNX Runtime)
* ``labels``   the emotion names, their colours and the per-face CSV columns
* ``system``   process-level helpers: cores, native log silencing, heap trimming, atomic
               writes, the repository root

``ferapp.quantize`` keeps the former ``python -m ferapp.quantize`` command working.

The entry points (main.py, camera.py, model.py, train.py, evaluate.py, analyze.py) stay at
the repository root and are argument parsing and wiring over this package; the package
never imports them.
"""
