"""Top-k accuracy as an ``evaluate`` metric module, shipped with hfnet so it loads offline.

``evaluate.load("accuracy")`` fetches its script from the Hub; hfnet loads this file by path instead
(``evaluate.load(<this folder>)``), so the results have ``evaluate``'s shape with no network. With ``k=1`` it is the
Hub's ``accuracy`` metric (fraction of predictions equal to the references); ``k>1`` takes ``predictions`` as
per-class scores and counts a hit when the reference is among the ``k`` highest.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Accuracy: the fraction of examples whose prediction (or one of the k best scored classes) is right."
_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted class ids (``k=1``) or one row of class scores per example (``k>1``).
    references: the true class ids.
    k: count a hit when the reference is among the ``k`` best scored classes (default 1).
    normalize: return the fraction (default) instead of the count.
    sample_weight: per-example weights.
Returns:
    ``{"accuracy": float}``
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Accuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Sequence(datasets.Value("float32")),
                        "references": datasets.Value("int64"),
                    }
                ),
                datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
            ],
            reference_urls=["https://huggingface.co/spaces/evaluate-metric/accuracy"],
        )

    def _compute(self, predictions, references, k=1, normalize=True, sample_weight=None):
        predictions = np.asarray(predictions)
        references = np.asarray(references)
        if predictions.ndim == 2:
            k = min(int(k), predictions.shape[1])
            # a stable sort so ties resolve like torch.topk on the lowest index
            top = np.argsort(-predictions, axis=1, kind="stable")[:, :k]
            hits = (top == references[:, None]).any(axis=1)
        else:
            if k != 1:
                raise ValueError("k > 1 needs one row of class scores per example as predictions")
            hits = predictions == references
        weights = np.ones(len(hits)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        total = float((hits * weights).sum())
        return {"accuracy": total / float(weights.sum()) if normalize else total}
