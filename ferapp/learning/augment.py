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
    """Shuffled, augmented (flip, rotation, shift, zoom, erasing, real-photo degradation,
    mixup) batches from uint8 arrays.

    ``y`` is either int labels (one-hot targets are made) or (N, 7) float targets;
    ``sample_weight`` (N,), when given, is the loss weight of each face, and every batch is
    then (faces, targets, weights). ``teacher(faces, targets) -> targets``, when given, mixes
    a teacher's view of each training batch's faces, as augmented, into its targets
    (targets.ViewTeacher).
    """

    def __init__(self, x, y, cfg: TrainConfig, augment: bool = True,
                 drop_remainder: bool = False, sample_weight=None, teacher=None, **kwargs):
        super().__init__(**kwargs)
        self.drop_remainder = drop_remainder  # data parallel: every batch splits evenly
        y = np.asarray(y)
        if y.ndim == 1:
            y = make_targets(y, None, 0.0)
        self.x, self.y, self.cfg, self.augment = x, y.astype("float32"), cfg, augment
        self.w = None if sample_weight is None else np.asarray(sample_weight, "float32")
        if self.w is not None and self.w.shape != (len(x),):
            raise ValueError(f"sample_weight has shape {self.w.shape}, not ({len(x)},)")
        self.rng = np.random.default_rng(cfg.seed)
        self.teacher = teacher
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
        faces, targets = self.x[idx], self.y[idx]
        weights = None if self.w is None else self.w[idx]
        if self.augment:
            faces = np.stack([self._transform(f) for f in faces])
        faces = faces.astype("float32")
        if self.augment and self.cfg.mixup:
            faces, targets, weights = self._mix(faces, targets, weights)
        if self.augment and self.teacher is not None:  # it sees what the student sees
            targets = self.teacher(faces, targets)
        batch = (faces[..., None], targets)
        return batch if weights is None else (*batch, weights)

    def _mix(self, faces, targets, weights):
        """Mixup (Zhang et al. 2018): each face blended with another face of the batch,
        its target and loss weight in the same proportion; the proportion of its own face,
        lam = max(b, 1 - b) with b ~ Beta(alpha, alpha), is at least 1/2."""
        n = len(faces)
        lam = self.rng.beta(self.cfg.mixup, self.cfg.mixup, n).astype("float32")
        lam = np.maximum(lam, 1 - lam)
        other = self.rng.permutation(n)

        def blend(a):
            shape = (n,) + (1,) * (a.ndim - 1)
            return lam.reshape(shape) * a + (1 - lam.reshape(shape)) * a[other]

        return blend(faces), blend(targets), None if weights is None else blend(weights)

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
        if c.photo_prob and r.random() < c.photo_prob:
            out = photo_degrade(out, r)
        return out


def photo_degrade(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What a real photo or webcam frame adds to a face, each with probability 1/2 (at
    least one): defocus or motion blur, JPEG compression, low light (darker, gamma),
    sensor noise, low contrast. uint8 in, uint8 out, same size."""
    steps = rng.random(5) < 0.5
    steps[rng.integers(0, 5)] = True
    out = face.astype(np.float32)
    if steps[0]:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.4))
    if steps[2]:
        gain, gamma = rng.uniform(0.35, 0.9), rng.uniform(1.0, 1.8)
        out = 255 * (out / 255) ** gamma * gain
    if steps[3]:
        out = out + rng.normal(0, rng.uniform(2, 9), out.shape)
    if steps[4]:
        mean = out.mean()
        out = mean + (out - mean) * rng.uniform(0.5, 0.85)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if steps[1]:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 85))])
        out = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else out
    return out
