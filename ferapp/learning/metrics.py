"""Scoring: confusion matrices, accuracy and per-class precision/recall/F1, the headline
figures the targets are set on, and batched prediction."""

from __future__ import annotations

import numpy as np

from ferapp.labels import EMOTIONS


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int = len(EMOTIONS)) -> np.ndarray:
    """Confusion matrix: rows are true labels, columns predictions."""
    return np.bincount(y_true * n + y_pred, minlength=n * n).reshape(n, n)


def metrics(cm: np.ndarray) -> dict:
    """Accuracy and per-class precision, recall, F1 and support from a confusion matrix."""
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(1), cm.sum(0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    per_class = {
        e: {"precision": round(float(p), 4), "recall": round(float(r), 4),
            "f1": round(float(f), 4), "support": int(s)}
        for e, p, r, f, s in zip(EMOTIONS, precision, recall, f1, support, strict=True)
    }
    return {"accuracy": round(float(tp.sum() / cm.sum()), 4),
            "macro_f1": round(float(f1.mean()), 4), "per_class": per_class}


def headline(pred: np.ndarray, y: np.ndarray, ferplus_y: np.ndarray | None = None) -> dict:
    """The figures the targets are set on: accuracy on the original labels and on the FER+
    majority (faces it labels; None without it), each class's recall on the original labels
    and the weakest of them."""
    original = metrics(confusion(y, pred))
    recall = {e: c["recall"] for e, c in original["per_class"].items()}
    weakest = min(recall, key=recall.get)
    ferplus_acc = None
    if ferplus_y is not None:
        keep = ferplus_y >= 0
        ferplus_acc = metrics(confusion(ferplus_y[keep], pred[keep]))["accuracy"]
    return {"accuracy": original["accuracy"], "accuracy_ferplus": ferplus_acc,
            "recall": recall, "weakest_class": weakest, "weakest_recall": recall[weakest]}


def predict(model, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """(N, 7) class probabilities for uint8 faces (N, 48, 48), in batches: through the
    served path of a FacialExpressionModel (its ``predict_scores``), or by calling a Keras
    model directly (never ``model.predict``)."""
    scores = getattr(model, "predict_scores", None)
    if scores is None:
        import keras

        def scores(faces):
            out = model(faces[..., None].astype("float32"), training=False)
            return keras.ops.convert_to_numpy(out)

    return np.concatenate([scores(x[i:i + batch]) for i in range(0, len(x), batch)])
