"""The design card's model module: ``from model import FacialExpressionModel``.

    model = FacialExpressionModel("model.json", "model_weights.h5")
    model.predict_emotion(face_48x48_gray)            # -> "happy"
    model.predict_scores(faces)                       # -> (N, 7) probabilities, EMOTIONS order

The classifier lives in ``ferapp.vision.classifier`` (served by ONNX Runtime), the export
helper that writes these files in ``ferapp.learning.export``.
"""

from ferapp.labels import EMOTIONS
from ferapp.learning.export import export_artifacts
from ferapp.vision.classifier import FacialExpressionModel, ModelLoadError
from ferapp.vision.models import default_model

__all__ = ["EMOTIONS", "FacialExpressionModel", "ModelLoadError", "default_model",
           "export_artifacts"]
