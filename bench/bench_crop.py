"""The crop on real photos: accuracy and per-class recall on a labelled photo folder
(wilddev) per crop margin (crop side / box side) and vertical offset of the crop centre
(a share of the box height; negative: up), through the app's still-image path (the
largest face of each photo, CenterFace, aligned crops, the served classifier).

    python bench/bench_crop.py [--photos DIR] [--margins 1.1,1.2,1.3] [--offsets ...]

Faces are detected once per photo; each setting only re-crops and classifies. The
baseline is the served setting (the detector's ``crop_margin``, offset 0). A folder like
wilddev is for measuring and choosing among a few candidates, never for training.
"""

import argparse
import os

from common import ROOT, shifted

import cv2
import numpy as np

from ferapp.labels import EMOTIONS
from ferapp.learning.photos import labelled_photos
from ferapp.system import cpu_name
from ferapp.vision.crop import crop_faces
from ferapp.vision.detect import make_detector
from ferapp.vision.intake import decode_image
from ferapp.vision.models import default_model


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", default=os.environ.get(
        "FER_WILDDEV", str(ROOT.parent / "shared" / "data" / "wilddev")))
    p.add_argument("--margins", default="1.0,1.1,1.2,1.3")
    p.add_argument("--offsets", default="-0.08,-0.04,0,0.04")
    args = p.parse_args()
    photos, _ = labelled_photos(args.photos)
    detector, model = make_detector(), default_model()
    items = []
    for path, label in photos:
        image = decode_image(path.read_bytes()).image
        faces = detector.detect_still(image)
        largest = max(faces, key=lambda d: d.box[2] * d.box[3], default=None)
        items.append((EMOTIONS.index(label), cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), largest))
    labels = np.array([i[0] for i in items])
    print(f"{cpu_name()}; {len(items)} photos of {args.photos}, runtime {model.runtime}; "
          f"served: margin {detector.crop_margin:g}, offset 0")
    print(f"{'margin':>6} {'offset':>7} {'accuracy':>9}  recall " + " ".join(
        f"{e[:5]:>5}" for e in EMOTIONS))
    for margin in (float(m) for m in args.margins.split(",")):
        for offset in (float(o) for o in args.offsets.split(",")):
            pred = np.array([-1 if face is None else int(model.predict_scores(crop_faces(
                gray, [shifted(face, offset)], model.input_size, margin))[0].argmax())
                for _, gray, face in items])
            recall = [float((pred[labels == c] == c).mean()) for c in range(len(EMOTIONS))]
            served = " <- served" if (margin, offset) == (detector.crop_margin, 0.0) else ""
            print(f"{margin:>6.2f} {offset:>+7.2f} {np.mean(pred == labels):>9.3f}         "
                  + " ".join(f"{r:>5.2f}" for r in recall) + served, flush=True)


if __name__ == "__main__":
    main()
