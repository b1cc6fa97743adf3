"""Real-time augmentation: shuffled, augmented batches of uint8 faces for Keras' fit.

Backend-agnostic: in-memory numpy arrays and a ``keras.utils.PyDataset`` that augments with
OpenCV, so training runs where TensorFlow is not installed (JAX, PyTorch).
"""

from __future__ import annotations

import math

import cv2
import keras
import numpy as np

from ferapp.learning.config import TrainConfig
from ferapp.learning.targets import make_targets


class AugmentedBatches(keras.utils.PyDataset):
    """Shuffled, augmented (flip, rotation, shift, zoom, erasing) batches from uint8 arrays.

    ``y`` is either int labels (one-hot targets are made) or (N, 7) float targets.
    """

    def __init__(self, x, y, cfg: TrainConfig, augment: bool = True,
                 drop_remainder: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.drop_remainder = drop_remainder  # data parallel: every batch splits evenly
        y = np.asarray(y)
        if y.ndim == 1:
            y = make_targets(y, None, 0.0)
        self.x, self.y, self.cfg, self.augment = x, y.astype("float32"), cfg, augment
        self.rng = np.random.default_rng(cfg.seed)
        self.order = np.arange(len(x))
        self.on_epoch_end()

    def __len__(self):
        if self.drop_remainder:
            return max(1, len(self.x) // self.cfg.batch_size)
        return math.ceil(len(self.x) / self.cfg.batch_size)

    def on_epoch_end(self):
        if self.augment:
            self.rng.shuffle(self.order)

    def __getitem__(self, i):
        idx = self.order[i * self.cfg.batch_size : (i + 1) * self.cfg.batch_size]
        faces = self.x[idx]
        if self.augment:
            faces = np.stack([self._transform(f) for f in faces])
        return faces[..., None].astype("float32"), self.y[idx]

    def _transform(self, face: np.ndarray) -> np.ndarray:
        c, r = self.cfg, self.rng
        size = face.shape[0]
        angle = r.uniform(-c.rotation_deg, c.rotation_deg)
        scale = r.uniform(1 - c.zoom, 1 + c.zoom)
        m = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
        m[:, 2] += r.uniform(-c.shift, c.shift, 2) * size
        out = cv2.warpAffine(face, m, (size, size), borderMode=cv2.BORDER_REPLICATE)
        if c.flip and r.random() < 0.5:
            out = out[:, ::-1]
        if c.erase_prob and r.random() < c.erase_prob:
            out = out.copy()
            area = r.uniform(0.02, 0.2) * size * size
            aspect = np.exp(r.uniform(np.log(0.3), np.log(3.3)))
            h = int(min(size, round(np.sqrt(area * aspect))))
            w = int(min(size, round(np.sqrt(area / aspect))))
            top, left = r.integers(0, size - h + 1), r.integers(0, size - w + 1)
            out[top:top + h, left:left + w] = r.integers(0, 256, (h, w), dtype=np.uint8)
        return out
