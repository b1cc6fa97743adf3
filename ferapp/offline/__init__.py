"""Recordings and photo folders to CSV, Parquet, annotated video and timelines: one input
(recording), or many on a local process pool or a Ray cluster (batch, engines, worker)."""
