"""A metric meets one contract: metric(X, Y, folds) -> one FoldResult per fold (memscore.metrics)."""
import numpy as np

from memscore.metrics import FoldResult, fold_targets


class Ridge:
    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def __call__(self, X, Y, folds):
        from sklearn.linear_model import Ridge

        out = []
        for k, f in enumerate(folds):
            y = fold_targets(Y, k)
            fit = Ridge(alpha=self.alpha).fit(np.asarray(X)[f.train], y[f.train])
            out.append(FoldResult(prediction=fit.predict(np.asarray(X)[f.test])))
        return out
