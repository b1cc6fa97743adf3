"""Library modules of the facial-expression app that are not entry points.

The entry points (main.py, camera.py, model.py, train.py, evaluate.py, analyze.py) stay at
the repository root; new library code lives here, one job per module.
"""
