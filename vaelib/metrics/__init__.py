"""One evaluation protocol, identical for every design.

:func:`evaluate` scores a trained model on a data set's test split and returns a flat
record ``{name: value}``; :func:`records_table` turns several records into a pandas
table (mean and std over seeds when asked). The names carry their units; the full
table of names is :data:`METRIC_DOCS`.

The pieces live in submodules: ``likelihood`` (reconstruction, ELBO, IWAE, the
deterministic-code bound), ``samples`` (FID, KID, precision/recall, sharpness on the
features of a small classifier trained on the same data: ``classifier``), ``samplers``
(prior, Gaussian fit, GMM fit on the training codes), ``latent`` (active units,
participation ratio, mutual information, aggregate posterior vs prior, prior holes) and
``smoothness`` (decoder Jacobian, interpolation path length).
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from .. import numerics, store
from ..data import Dataset, check_data
from ..errors import VaelibError, check_choice
from ..models import AutoEncoder
from ..config import TrainConfig
from ..training import TrainResult
from . import classifier, latent, likelihood, samplers, samples, smoothness  # noqa: F401  (metrics.latent etc.)

#: Raise whenever a change to the metrics changes the numbers for the same model.
METRICS_VERSION = 3

#: Metrics measured in wall-clock time. They depend on the machine and on what else it was
#: doing, not on the model: report them as costs, never compare them across machines.
WALL_CLOCK_METRICS: tuple[str, ...] = ("train_seconds", "samples_per_second")

#: Every metric name :func:`evaluate` can return, with its meaning and unit. ``<sampler>``
#: stands for each of prior / gaussian / gmm.
METRIC_DOCS: dict[str, str] = {
    "recon_bce_nats": "test reconstruction, Bernoulli negative log-likelihood of x given z = mean (nats/image)",
    "recon_mse": "test reconstruction squared error, summed over pixels, mean over images (pixel units^2)",
    "elbo_nats": "ELBO on the test split, stochastic designs only (nats/image; higher is better)",
    "rate_nats": "KL(q(z|x) || p(z)) on the test split, stochastic designs only (nats/image)",
    "distortion_nats": "E_q[-log p(x|z)] on the test split, stochastic designs only (nats/image)",
    "iwae_nats": "IWAE bound with k samples (k in iwae_k), stochastic designs only (nats/image)",
    "iwae_k": "number of importance samples of iwae_nats",
    "det_bound_nats": "deterministic codes only: best bound with q = N(f(x), s^2 I) over a grid of s; NOT a VAE ELBO",
    "det_bound_scale": "the s of det_bound_nats",
    "loglik_exact_nats": "latent dim <= 2 only: exact log p(x) by quadrature over z (decoder + prior, any design), "
                         f"mean over the first {likelihood.EXACT_LL_IMAGES} test images (nats/image; higher is better)",
    "loglik_exact_error_nats": "latent dim <= 2 only: quadrature error estimate of loglik_exact_nats, mean over the "
                               "same images of |grid h - grid 2h| (nats/image; conservative)",
    "elbo_exact_subset_nats": "latent dim <= 2, stochastic designs only: ELBO on the same images as loglik_exact_nats "
                              "(nats/image); loglik_exact_nats minus it is the ELBO's gap",
    "iwae_exact_subset_nats": "latent dim <= 2, stochastic designs only: IWAE bound (k = iwae_k) on the same images as "
                              "loglik_exact_nats (nats/image); loglik_exact_nats minus it is the bound's gap",
    "active_units": "latent dims with Var_x E_q[z_d|x] > 0.01 (Burda et al. 2016), count",
    "active_units_kl": "latent dims whose mean KL(q(z_d|x) || N(0,1)) on the test split exceeds 0.01 nats, count; "
                       "stochastic designs only",
    "participation_ratio": "PCA participation ratio of the test codes (effective number of dims), in [1, latent_dim]",
    "mi_nats": "I_q(x; z) lower bound over the training split, the aggregate mixture's estimate (<= log N), "
               "stochastic designs only (nats)",
    "mi_upper_nats": "leave-one-out upper bound on I_q(x; z) (Poole et al. 2019), same split and z as mi_nats (nats)",
    "mi_rate_nats": "mean KL(q(z|x) || N(0, I)) over the same (training) split: rate = I_q(x; z) + KL(q(z) || p(z)) (nats)",
    "mi_ceiling_nats": "log N of the split used for mi_nats: the lower bound cannot exceed it (nats)",
    "mi_at_ceiling": "1 when mi_nats is within 0.1 nats of its ceiling (then it says 'at least', not how much), else 0",
    "agg_mmd": "unbiased MMD^2 (IMQ) between test codes (z ~ q(z|x)) and N(0, I) samples",
    "agg_mmd_floor": "the same MMD^2 between two N(0, I) samples of the same size: the noise floor",
    "agg_sw": "sliced Wasserstein-2^2 between test codes and N(0, I) samples",
    "agg_gauss_kl_nats": "KL(N(m, S) || N(0, I)) of a Gaussian fitted to the test codes (nats)",
    "prior_hole_rate": "share of N(0, I) samples z where q(z) / p(z) < 0.1, q the training split's aggregate posterior "
                       "(the exact mixture for stochastic encoders, a 10-component GMM fit to f(x) otherwise), fraction",
    "jacobian_norm": "mean Frobenius norm of d decode(z) / dz at test codes (pixel probability per unit z; "
                     "depends on the codes' scale)",
    "jacobian_norm_scaled": "mean Frobenius norm of J S^1/2, S the test codes' covariance (pixel probability per "
                            "code standard deviation; unchanged by rescaling z)",
    "interp_path_ratio": "feature-space path length of decoded interpolations / endpoint distance (>= 1)",
    "classifier_accuracy": "test accuracy of the feature classifier (fraction)",
    "real_fid_floor": "FID of held-out real (training) images vs the test split at the models' sample size: "
                      "what a perfect generator scores (mean over up to 4 disjoint subsets)",
    "real_fid_floor_std": "std of real_fid_floor over its subsets",
    "real_kid_floor": "KID of the same held-out real images (the floor for <sampler>/kid)",
    "real_precision_floor": "precision of the same held-out real images (what a perfect generator scores), fraction",
    "real_recall_floor": "recall of the same held-out real images, fraction",
    "real_floor_n": "images per subset of the real floors (= n_samples unless the training split is smaller)",
    "real_pixel_entropy_nats": "mean per-pixel Bernoulli entropy of real test images (nats/pixel)",
    "<sampler>/fid": "FID of decoded samples vs the test split on classifier features",
    "<sampler>/kid": "KID (unbiased, cubic kernel; features centred and divided by one scalar, the real features' "
                     "RMS std), mean over subsets; unitless, 0 for a perfect generator",
    "<sampler>/kid_std": "KID std over subsets",
    "<sampler>/precision": "k-NN precision (Kynkaanniemi et al. 2019, k = 3), fraction",
    "<sampler>/recall": "k-NN recall (k = 3), fraction",
    "<sampler>/low_confidence_share": "share of decoded samples the classifier labels with confidence < 0.5",
    "<sampler>/pixel_entropy_nats": "mean per-pixel Bernoulli entropy of decoded means (blur: higher = greyer), nats",
    "<sampler>/sharpness": "mean squared Laplacian of decoded images (higher = sharper edges)",
    "agg_c2st_accuracy": "'fill' group: held-out accuracy of a small network (two hidden layers of 64) telling test "
                         "codes (z ~ q(z|x)) from as many N(0, I) samples (Lopez-Paz & Oquab 2017); 0.5 = "
                         "indistinguishable, in [0, 1] whatever the latent dim",
    "agg_c2st_p": "'fill' group: one-sided binomial p-value of agg_c2st_accuracy against 0.5",
    "codes_twonn_dim": "'fill' group: TwoNN intrinsic dimension (Facco et al. 2017) of the test codes z ~ q(z|x), "
                       "in dimensions (at most about the latent dim)",
    "mi_upper_tight_nats": "head-to-head only: the tighter of two upper bounds on I_q(x; z), mi_upper_nats and log N "
                           "(mi_ceiling_nats; Hoffman & Johnson 2016) (nats)",
    "train_bce_nats": "head-to-head only: reconstruction of the model's own training images, as recon_bce_nats "
                      "(nats/image)",
    "gen_gap_nats": "head-to-head only: recon_bce_nats minus train_bce_nats (nats/image)",
    "n_train": "head-to-head only: number of training images of the model",
    "train_seconds": "wall time of the training passes (s)",
    "samples_per_second": "training throughput (examples / s)",
}

GROUPS: tuple[str, ...] = ("likelihood", "latent", "samples", "smoothness", "cost")
#: Groups computed only when asked for by name (``groups=("fill",)``): added after version 3 of the
#: metrics, so the cached records of the default groups stay valid.
EXTRA_GROUPS: tuple[str, ...] = ("fill",)
DEFAULT_SAMPLERS: tuple[str, ...] = ("prior", "gaussian", "gmm")


class _Clock:
    """Adds the seconds between successive ``start(name)`` calls to ``timings[name]`` (if given)."""

    def __init__(self, timings: dict[str, float] | None):
        self.timings, self.name, self.t0 = timings, None, time.perf_counter()

    def start(self, name: str | None) -> None:
        now = time.perf_counter()
        if self.timings is not None and self.name is not None:
            self.timings[self.name] = self.timings.get(self.name, 0.0) + now - self.t0
        self.name, self.t0 = name, now


def _model_and_result(model: AutoEncoder | TrainResult) -> tuple[AutoEncoder, TrainResult | None]:
    if isinstance(model, TrainResult):
        return model.model, model
    if isinstance(model, AutoEncoder):
        return model, None
    raise VaelibError(f"evaluate needs an AutoEncoder or a TrainResult, got {type(model).__name__}")


def _finite(record: dict[str, float]) -> dict[str, float]:
    bad = [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise VaelibError(f"metrics {bad} came out NaN or infinite: the model's codes or outputs are not finite")
    return record


@torch.no_grad()
def encode_means(model: AutoEncoder, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Encoder means (= f(x) for deterministic heads) of ``x`` on the model's device; (n, latent_dim)."""
    device = next(model.parameters()).device
    return torch.cat([model.encode(xb.to(device)).mean for xb in x.split(batch_size)])


@torch.no_grad()
def encode_samples(model: AutoEncoder, x: torch.Tensor, seed: int = 0, batch_size: int = 1000) -> torch.Tensor:
    """One z ~ q(z|x) per row of ``x`` (the code itself for deterministic heads); (n, latent_dim)."""
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    return torch.cat([model.sample_z(model.encode(xb.to(device)), gen) for xb in x.split(batch_size)])


def evaluate(
    model: AutoEncoder | TrainResult,
    data: Dataset,
    *,
    groups: Iterable[str] = GROUPS,
    samplers: Sequence[str] = DEFAULT_SAMPLERS,
    n_samples: int = 1000,
    iwae_k: int = 50,
    seed: int = 0,
    classifier=None,
    timings: dict[str, float] | None = None,
    split: str = "test",
) -> dict[str, float]:
    """Score ``model`` on ``data`` (test split; training split for code-fitted samplers and MI).

    ``data`` is the whole data set. A model trained on part of its training split (a config
    with ``validation_fraction`` or ``n_train``: :func:`vaelib.data.training_view`) fits its
    samplers and measures MI on the images it trained on; ``split="validation"`` scores it on its
    held-out validation images instead of the test split (for selections: ``vaelib.selection``).
    The feature classifier and the real-image floors always come from the whole data set.

    Returns a flat record ``{metric name: value}`` (names and units in :data:`METRIC_DOCS`).
    ``groups`` selects among likelihood / latent / samples / smoothness / cost;
    ``samplers`` among prior / gaussian / gmm; every sampler draws ``n_samples`` codes, the
    same for every model. Seeds make every number reproducible. Raises VaelibError for
    unknown names, too few samples, or NaN codes, never returning a silent NaN.
    Pass a dict as ``timings`` to receive the seconds spent per group (for the benchmark).
    """
    from . import latent, likelihood, samplers as samplers_mod, samples, smoothness
    from .classifier import classifier_accuracy, load_or_train_classifier

    from ..data import training_view, validation_view

    net, result = _model_and_result(model)
    groups = tuple(groups)
    check_choice("split", split, ("test", "validation"))
    if result is None and split == "validation":
        raise VaelibError("split='validation' needs the TrainResult (its config says which images were held out)")
    full = data
    own = training_view(data, result.config) if result is not None else data
    scored = validation_view(data, result.config) if split == "validation" else own
    for g in groups:
        check_choice("metric group", g, GROUPS + EXTRA_GROUPS)
    for s in samplers:
        check_choice("sampler", s, samplers_mod.SAMPLERS)
    if n_samples < 2:
        raise VaelibError(f"n_samples must be >= 2, got {n_samples}")
    if net.data_dim != data.dim:
        raise VaelibError(f"model expects {net.data_dim} features but data set {data.name!r} has {data.dim}")
    bernoulli = net.likelihood == "bernoulli"
    check_data(data.x_test, bernoulli=bernoulli, name="test data")
    device = next(net.parameters()).device
    net.eval()
    x_test = scored.x_test.to(device)   # the scoring images: the test split, or the validation images
    record: dict[str, float] = {}

    clock = _Clock(timings)
    if "likelihood" in groups:
        clock.start("likelihood")
        record.update({f"recon_{k}": v for k, v in likelihood.reconstruction_errors(net, x_test).items()})
        if net.stochastic:
            e = likelihood.elbo(net, x_test, seed=seed)
            record.update(elbo_nats=e["elbo"], rate_nats=e["kl"], distortion_nats=e["reconstruction"])
            record["iwae_nats"] = likelihood.iwae_bound(net, x_test, iwae_k, seed=seed)
            record["iwae_k"] = float(iwae_k)
        else:
            b = likelihood.deterministic_bound(net, x_test, seed=seed)
            record.update(det_bound_nats=b["bound"], det_bound_scale=b["best_scale"])
        if net.latent_dim <= 2:
            x_exact = x_test[:likelihood.EXACT_LL_IMAGES]
            q = likelihood.exact_log_likelihood(net, x_exact)
            record.update(loglik_exact_nats=q["log_likelihood"], loglik_exact_error_nats=q["error_nats"])
            if net.stochastic:
                record["elbo_exact_subset_nats"] = likelihood.elbo(net, x_exact, seed=seed)["elbo"]
                record["iwae_exact_subset_nats"] = likelihood.iwae_bound(net, x_exact, iwae_k, seed=seed)

    clock.start("codes")
    need_codes = bool({"latent", "samples", "smoothness", "fill"} & set(groups))
    if need_codes:
        test_means = encode_means(net, x_test)
        if not torch.isfinite(test_means).all():
            raise VaelibError("the model's codes contain NaN or infinite values; it cannot be evaluated")

    if "latent" in groups:
        clock.start("latent")
        record["active_units"] = float(latent.active_units(net, x_test))
        record["participation_ratio"] = latent.participation_ratio(test_means)
        x_train = own.x_train.to(device)
        if net.stochastic:
            record["active_units_kl"] = float(latent.active_units_kl(net, x_test))
            mi = latent.mutual_information_bounds(net, x_train, seed=seed)
            record.update(mi_nats=mi["lower"], mi_upper_nats=mi["upper"], mi_rate_nats=mi["rate"],
                          mi_ceiling_nats=mi["ceiling"], mi_at_ceiling=mi["at_ceiling"])
        codes = encode_samples(net, x_test, seed=seed)
        agg = latent.aggregate_divergences(codes, seed=seed)
        record.update(agg_mmd=agg["mmd_to_prior"], agg_mmd_floor=agg["mmd_prior_vs_prior"], agg_sw=agg["sw_to_prior"],
                      agg_gauss_kl_nats=agg["gauss_kl_to_prior"])
        record["prior_hole_rate"] = latent.prior_hole_rate(net, x_train, seed=seed)

    if "fill" in groups:
        clock.start("fill")
        from .intrinsic import two_nn_dimension
        from .twosample import classifier_two_sample_test

        codes = encode_samples(net, x_test, seed=seed).cpu().double()
        prior = torch.randn(codes.shape, generator=torch.Generator().manual_seed(seed + 7), dtype=torch.float64)
        c2st = classifier_two_sample_test(codes, prior, seed=seed)
        record.update(agg_c2st_accuracy=c2st["accuracy"], agg_c2st_p=c2st["p_value"],
                      codes_twonn_dim=two_nn_dimension(codes))

    clf = None
    clock.start("classifier")
    if "samples" in groups or "smoothness" in groups:
        clf = classifier or load_or_train_classifier(full, seed=0)
        clf = clf.to(device).eval()

    if "samples" in groups:
        clock.start("samples")
        record["classifier_accuracy"] = classifier_accuracy(clf, x_test, scored.y_test.to(device))
        with torch.no_grad():
            real_feats = clf.features(x_test)
        with torch.no_grad():
            heldout_feats = clf.features(scored.x_train.to(device) if split == "validation" else full.x_train.to(device))
        floor = samples.real_floor(real_feats, heldout_feats, n_samples, seed=seed)
        record.update(real_fid_floor=floor["fid"], real_fid_floor_std=floor["fid_std"], real_kid_floor=floor["kid"],
                      real_precision_floor=floor["precision"], real_recall_floor=floor["recall"],
                      real_floor_n=floor["n"])
        if bernoulli:
            record["real_pixel_entropy_nats"] = samples.mean_pixel_entropy(x_test)
        train_means = encode_means(net, own.x_train)
        for name in samplers:
            sampler = samplers_mod.fit_sampler(name, train_means, seed=seed)
            q = samples.sample_quality(net, clf, data, sampler=sampler, n_samples=n_samples, seed=seed,
                                       real_feats=real_feats)
            record.update({f"{name}/{k}": v for k, v in q.items()})

    if "smoothness" in groups:
        clock.start("smoothness")
        record["jacobian_norm"] = smoothness.decoder_jacobian_norm(net, test_means, seed=seed)
        record["jacobian_norm_scaled"] = smoothness.decoder_jacobian_norm_scaled(net, test_means, seed=seed)
        n_pairs = min(32, x_test.shape[0] // 2)
        record["interp_path_ratio"] = smoothness.interpolation_path_length(
            net, x_test[:n_pairs], x_test[n_pairs:2 * n_pairs], clf.features)

    if "cost" in groups and result is not None:
        record["train_seconds"] = result.history.train_seconds
        record["samples_per_second"] = result.history.samples_per_second
    clock.start(None)
    return _finite(record)


def evaluation_cache_path(config: TrainConfig, data: Dataset, *, cache_dir: str | Path | None = None,
                          **kwargs: Any) -> Path:
    """Where :func:`evaluate_cached` keeps the record of ``config``'s model on ``data`` with ``kwargs``.

    ``<cache>/metrics/<design>-<hash>.json``; the hash (:func:`vaelib.store.key`, 20 hex digits)
    covers :data:`METRICS_VERSION`, the numerics, the model's config, the data set's name and test
    size, and the arguments of :func:`evaluate` (except ``classifier``).
    """
    key = store.key({"v": METRICS_VERSION, "numerics": numerics.current().cache_tag,
                     "config": config.to_dict(), "data": data.name, "n_test": int(data.x_test.shape[0]),
                     "args": {k: (list(v) if isinstance(v, (tuple, list)) else v) for k, v in kwargs.items()
                              if k != "classifier"}}, length=20)
    return store.cache_folder("metrics", cache_dir) / f"{config.design}-{key}.json"


def evaluate_cached(
    result: TrainResult,
    data: Dataset,
    *,
    cache_dir: str | Path | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """:func:`evaluate` with its record cached on disk, keyed by the model's config and the arguments.

    Lets a notebook be re-executed without recomputing metrics. Timing metrics come from
    the training history, so a cached record equals a fresh one. The file is
    :func:`evaluation_cache_path`, written atomically (:func:`vaelib.store.write_json`); a damaged
    one is computed again and replaced.
    """
    path = evaluation_cache_path(result.config, data, cache_dir=cache_dir, **kwargs)
    if path.exists():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            pass  # a damaged entry is recomputed and replaced below
    record = evaluate(result, data, **kwargs)
    store.write_json(path, record)
    return record


def records_table(records: Mapping[str, Mapping[str, float]] | Sequence[Mapping[str, Any]],
                  by: Sequence[str] | None = None):
    """A pandas DataFrame of records.

    With a mapping ``{label: record}`` the rows are labels. With a sequence of records
    that carry grouping columns (e.g. design, latent_dim, seed) and ``by`` naming them,
    rows are the groups and every metric gets ``mean`` and ``std`` over the group.
    """
    import pandas as pd

    if isinstance(records, Mapping):
        return pd.DataFrame.from_dict({k: dict(v) for k, v in records.items()}, orient="index")
    frame = pd.DataFrame([dict(r) for r in records])
    if not by:
        return frame
    missing = [b for b in by if b not in frame.columns]
    if missing:
        raise VaelibError(f"records have no column(s) {missing}; columns: {list(frame.columns)}")
    numeric = frame.drop(columns=list(by)).select_dtypes("number")
    return pd.concat([frame[list(by)], numeric], axis=1).groupby(list(by)).agg(["mean", "std"])


#: The sample statistics that have a real-data floor in an :func:`evaluate` record (``real_<stat>_floor``).
FLOORED_SAMPLE_STATS: tuple[str, ...] = ("fid", "kid", "precision", "recall")


def sample_quality_table(record: Mapping[str, float], samplers: Sequence[str] = DEFAULT_SAMPLERS,
                         stats: Sequence[str] = FLOORED_SAMPLE_STATS):
    """A pandas DataFrame of one record's sample statistics: a row per sampler, then the real-data floor.

    Rows are ``samplers`` (``"<sampler>/<stat>"`` of ``record``) and a last row ``"real (floor)"``
    holding ``real_<stat>_floor``: what held-out real images score at the same sample size,
    i.e. a perfect generator (NaN for a statistic without a floor). Columns are ``stats``, in
    the units of :data:`METRIC_DOCS`. Raises VaelibError when the record lacks a sampler's statistic.
    """
    import pandas as pd

    rows = {}
    for s in samplers:
        missing = [f"{s}/{k}" for k in stats if f"{s}/{k}" not in record]
        if missing:
            raise VaelibError(f"the record has no {missing}: evaluate it with the 'samples' group and sampler {s!r}")
        rows[s] = {k: record[f"{s}/{k}"] for k in stats}
    rows["real (floor)"] = {k: record.get(f"real_{k}_floor", math.nan) for k in stats}
    return pd.DataFrame.from_dict(rows, orient="index")


__all__ = ["EXTRA_GROUPS", "FLOORED_SAMPLE_STATS", "METRIC_DOCS", "METRICS_VERSION", "WALL_CLOCK_METRICS", "DEFAULT_SAMPLERS", "GROUPS",
           "encode_means", "encode_samples", "evaluate", "evaluate_cached", "evaluation_cache_path", "records_table",
           "sample_quality_table"]
