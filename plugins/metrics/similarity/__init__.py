"""Registers the similarity metrics beyond PLS: ridge with leave-one-out penalties, RSA, unbiased linear CKA,
angular Procrustes, reverse predictivity and its predictor-consistency ceiling (imports nothing heavy)."""
from memscore import hookimpl


@hookimpl
def register_metrics(register):
    register("ridgecv", "memscore_plugins.metrics.similarity.ridgecv:RidgeCVMetric", tags=["regression"],
             description="ridge regression, each target's alpha by exact leave-one-out error from alphas= "
                         "(scikit-learn RidgeCV(alpha_per_target=True) semantics); primal or dual form by shape")
    register("rsa", "memscore_plugins.metrics.similarity.rsa:RSAMetric", tags=["similarity"],
             description="RSA: 1 - Pearson RDMs of each fold's test stimuli, compared by Spearman (or tau-a, "
                         "cosine); no fit")
    register("procrustes", "memscore_plugins.metrics.similarity.rsa:ProcrustesMetric", tags=["similarity"],
             description="angular Procrustes shape similarity (Williams et al. 2021), 1 - theta/(pi/2), of each "
                         "fold's test stimuli; no fit")
    register("cka", "memscore_plugins.metrics.similarity.rsa:CKAMetric", tags=["similarity"],
             description="unbiased linear CKA (Kornblith et al. 2019, debiased) of each fold's test stimuli; no fit")
    register("reverse", "memscore_plugins.metrics.similarity.reverse:ReversePredictivity", tags=["neural"],
             description="reverse predictivity (Muzellec & Kar 2026; Brain-Score reverse_pls): a regression (pls by "
                         "default) per fold from the sites to the model's units, Pearson per unit, median over units")
    register("predictor-consistency", "memscore_plugins.metrics.similarity.reverse:PredictorConsistency",
             tags=["neural", "ceiling"],
             description="split-half reliability with each image's repetitions halved at random (default_rng(0)), "
                         "Spearman-Brown corrected, median over sites (Brain-Score's reverse_pls ceiling)")
