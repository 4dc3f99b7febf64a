"""Sample quality on the features of a classifier trained on the same data.

Statistics on feature tensors (n, f), e.g. ``clf.features(x)`` of
:class:`vaelib.metrics.classifier.FeatureClassifier`:

* :func:`fid`: Frechet distance between Gaussians fitted to two feature sets.
* :func:`kid`: unbiased MMD^2 with the cubic polynomial kernel (Binkowski et al. 2018)
  on standardised features, mean and std over random subsets.
* :func:`precision_recall`: k-NN precision and recall (Kynkaanniemi et al. 2019).

Statistics on images, for what a classifier's features barely see (blur: a classifier
needs only the digit's shape, so blurry decodings can score a low FID):

* :func:`mean_pixel_entropy`: mean Bernoulli entropy per pixel (grey = blurry = high).
* :func:`sharpness`: mean squared Laplacian (sharp edges = high).

The real-vs-real floor: every FID, KID, precision and recall is read against
:func:`real_floor`, the same statistic with real held-out images in place of the samples, at
the same sample sizes (FID's bias grows like 1/n_a + 1/n_b, so a floor at other sizes misleads),
over several disjoint subsets so that its own spread shows.

Bad input (mismatched feature dimensions, too few samples, NaN or infinite values)
raises :class:`VaelibError`; no function here returns a silent NaN.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from numbers import Integral

import torch
from torch.nn import functional as F

from ..blas import eigh, matmul, psd_sqrt
from ..data import Dataset
from ..errors import VaelibError
from ..models import AutoEncoder
from ..samplers import Sampler, fit_sampler
from .classifier import FeatureClassifier, classifier_accuracy
from .registry import EvaluationContext, MetricGroup

#: Rows per block of pairwise distances in :func:`precision_recall` (memory: CHUNK * n floats).
CHUNK = 2048


def _check_feats(feats: torch.Tensor, what: str, min_n: int = 1) -> torch.Tensor:
    """Return ``feats`` as a detached CPU tensor if it is a finite float (n, f) tensor with n >= min_n."""
    if not isinstance(feats, torch.Tensor) or feats.ndim != 2 or not feats.is_floating_point():
        got = tuple(feats.shape) if isinstance(feats, torch.Tensor) else type(feats).__name__
        raise VaelibError(f"{what} must be a float tensor of shape (n, features), got {got}")
    if feats.shape[1] < 1:
        raise VaelibError(f"{what} have no feature columns (shape {tuple(feats.shape)})")
    if feats.shape[0] < min_n:
        raise VaelibError(f"{what} need at least {min_n} samples, got {feats.shape[0]}")
    bad = int((~torch.isfinite(feats)).sum())
    if bad:
        raise VaelibError(f"{what} contain {bad} NaN or infinite values")
    return feats.detach().cpu()


def _check_pair(a: torch.Tensor, b: torch.Tensor, name: str, min_n: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    a = _check_feats(a, f"{name}: first feature set", min_n)
    b = _check_feats(b, f"{name}: second feature set", min_n)
    if a.shape[1] != b.shape[1]:
        raise VaelibError(f"{name}: feature dimensions differ ({a.shape[1]} vs {b.shape[1]})")
    return a, b


def fid(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (squared feature units, >= 0).

    FID = |m_a - m_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2), computed in
    float64 with eigen-decompositions (stable for singular covariances), its products and
    eigen-decompositions on the canonical kernels (:func:`vaelib.blas.matmul`,
    :func:`vaelib.blas.eigh`). Each set needs more samples than feature dimensions. The FID
    of a set with itself is 0; two finite samples of one distribution give a positive value,
    so compare with :func:`real_floor`.
    """
    for which, x in (("first", feats_a), ("second", feats_b)):
        if isinstance(x, torch.Tensor) and x.ndim == 2 and x.shape[0] < x.shape[1] + 1:
            raise VaelibError(f"FID needs more samples than feature dimensions: got n={x.shape[0]}, "
                              f"f={x.shape[1]} ({which} set)")
    a, b = _check_pair(feats_a, feats_b, "FID", min_n=2)
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(dim=0), b.mean(dim=0)
    ca, cb = a - mu_a, b - mu_b
    cov_a = matmul(ca.T, ca) / (a.shape[0] - 1)
    cov_b = matmul(cb.T, cb) / (b.shape[0] - 1)
    root_a = psd_sqrt(cov_a)
    middle = matmul(matmul(root_a, cov_b), root_a)
    tr_sqrt = eigh((middle + middle.T) / 2)[0].clamp(min=0).sqrt().sum()
    value = (mu_a - mu_b).pow(2).sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * tr_sqrt
    return max(float(value), 0.0)


#: At most this many disjoint held-out subsets make up :func:`real_floor`'s mean and spread.
FLOOR_SUBSETS: int = 4

#: :func:`real_floor` keeps this many of its latest results in memory, keyed by the contents of its inputs.
FLOOR_MEMO_SIZE: int = 8
_FLOOR_MEMO: OrderedDict[str, dict[str, float]] = OrderedDict()


def _floor_key(real_feats: torch.Tensor, heldout_feats: torch.Tensor, n_samples: int, seed: int,
               max_subsets: int) -> str:
    """sha256 of the floor's inputs: both feature tensors (dtype, shape, bytes) and its three settings."""
    h = hashlib.sha256(f"{n_samples}:{seed}:{max_subsets}".encode())
    for t in (real_feats, heldout_feats):
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def real_floor(real_feats: torch.Tensor, heldout_feats: torch.Tensor, n_samples: int, *, seed: int = 0,
               max_subsets: int = FLOOR_SUBSETS) -> dict[str, float]:
    """What a perfect generator would score: real images in place of samples, at the models' sample sizes.

    ``real_feats`` are the features every model's samples are compared with (the test
    split); ``heldout_feats`` are features of other real images (the training split). Up to
    ``max_subsets`` disjoint subsets of ``n_samples`` held-out images (a seeded shuffle) are
    each scored exactly as a model's ``n_samples`` decoded samples are (:func:`fid`,
    :func:`kid`, :func:`precision_recall` against all of ``real_feats``). Returns the mean
    over subsets of ``fid``, ``kid``, ``precision``, ``recall``, their std over subsets
    (``fid_std`` etc.; 0 with one subset) and ``n_subsets``. When the held-out set holds
    fewer than ``n_samples`` images, one subset of all of them is used and ``n`` says so:
    then the floor is at a smaller size than the models' and biased upwards.

    The floor depends on the real images and the classifier only, not on a model: every model of a
    notebook or study gets the same one. So the latest :data:`FLOOR_MEMO_SIZE` results are kept in
    memory, keyed by the sha256 of the inputs' contents, and a repeated call returns a copy of the
    result it computed (the same numbers, about a second sooner).
    """
    real_feats = _check_feats(real_feats, "real features", min_n=2)
    heldout_feats = _check_feats(heldout_feats, "held-out real features", min_n=2)
    if n_samples < 2:
        raise VaelibError(f"real_floor needs n_samples >= 2, got {n_samples}")
    if max_subsets < 1:
        raise VaelibError(f"real_floor needs max_subsets >= 1, got {max_subsets}")
    key = _floor_key(real_feats, heldout_feats, n_samples, seed, max_subsets)
    if key in _FLOOR_MEMO:
        _FLOOR_MEMO.move_to_end(key)
        return dict(_FLOOR_MEMO[key])
    out = _compute_real_floor(real_feats, heldout_feats, n_samples, seed, max_subsets)
    _FLOOR_MEMO[key] = dict(out)
    while len(_FLOOR_MEMO) > FLOOR_MEMO_SIZE:
        _FLOOR_MEMO.popitem(last=False)
    return out


def _compute_real_floor(real_feats: torch.Tensor, heldout_feats: torch.Tensor, n_samples: int, seed: int,
                        max_subsets: int) -> dict[str, float]:
    """:func:`real_floor` without its memory: the statistics of the held-out subsets, computed."""
    order = torch.randperm(heldout_feats.shape[0], generator=torch.Generator().manual_seed(seed))
    n = min(n_samples, heldout_feats.shape[0])
    k = max(1, min(max_subsets, heldout_feats.shape[0] // n))
    rows = []
    for i in range(k):
        sub = heldout_feats[order[i * n:(i + 1) * n]]
        precision, recall = precision_recall(real_feats, sub)
        rows.append({"fid": fid(real_feats, sub), "kid": kid(real_feats, sub, seed=seed)[0],
                     "precision": precision, "recall": recall})
    table = torch.tensor([[r[key] for key in rows[0]] for r in rows], dtype=torch.float64)
    out: dict[str, float] = {}
    for j, key in enumerate(rows[0]):
        out[key] = float(table[:, j].mean())
        out[f"{key}_std"] = float(table[:, j].std()) if k > 1 else 0.0
    out.update(n=float(n), n_subsets=float(k))
    return out


def kid_scale(real_feats: torch.Tensor) -> float:
    """The one scalar KID divides features by: sqrt(mean over features of the per-feature variance) of ``real_feats``.

    In feature units. Features that are constant on the real set add 0 to the mean; if every
    feature is constant the scale is 1 (the features are then only centred).
    """
    real_feats = _check_feats(real_feats, "real features", min_n=2)
    value = float(real_feats.double().var(dim=0).mean().sqrt())
    return value if value > 0 else 1.0


def _kernel_sum(x: torch.Tensor, y: torch.Tensor, *, drop_diagonal: bool) -> torch.Tensor:
    """Per subset, the sum of the cubic kernel (x.y / f + 1)^3 over all pairs (s, m, f) x (s, m, f); (s,) float64.

    One matrix product per subset (:func:`vaelib.blas.matmul`: the canonical kernels).
    """
    totals = []
    for xs, ys in zip(x, y):
        k = matmul(xs, ys.T).mul_(1.0 / x.shape[2]).add_(1.0).pow_(3)
        total = k.sum().double()
        if drop_diagonal:
            total = total - k.diagonal().sum().double()
        totals.append(total)
    return torch.stack(totals)


def kid(
    feats_a: torch.Tensor,
    feats_b: torch.Tensor,
    *,
    subset_size: int = 500,
    n_subsets: int = 50,
    seed: int = 0,
) -> tuple[float, float]:
    """KID: (mean, std) over random subsets of the unbiased MMD^2 with kernel (x.y / f + 1)^3.

    ``feats_a`` is the reference (real) set. Both sets are centred on its mean and divided by
    one scalar, its root-mean-square per-feature std (:func:`kid_scale`), so that the kernel's
    argument x.y / f is of order 1 whatever the classifier's feature scale. One scalar, not a
    std per feature: a feature that never fires on real data (23 of the 128 on mnist5k's test
    split) has std 0, and dividing by a per-feature std made a sample that fires it weigh
    like a 10^6-sigma outlier, which the cubic kernel then cubed (KID 30 +- 52 where FID said
    4.1). KID is therefore in units of the real features' overall variance: 0 for two samples
    of one distribution, and a set shifted by one (overall) standard deviation per feature
    scores about 1-2 (measured in tests/test_metrics_samples.py). Each of ``n_subsets`` draws
    ``subset_size`` rows without replacement from each set (capped at the smaller set, at
    least 2 rows), seeded by ``seed``. Unitless; 0 in expectation for two independent samples
    of one distribution, so an estimate can be slightly negative (a set against itself gives
    a small negative value: its two subsets share rows).
    """
    a, b = _check_pair(feats_a, feats_b, "KID", min_n=2)
    if n_subsets < 1 or subset_size < 2:
        raise VaelibError(f"KID needs n_subsets >= 1 and subset_size >= 2, got {n_subsets} and {subset_size}")
    mean, scale = a.mean(dim=0), kid_scale(a)
    a, b = ((a - mean) / scale).float(), ((b - mean) / scale).float()
    m = min(subset_size, a.shape[0], b.shape[0])
    gen = torch.Generator().manual_seed(int(seed))
    idx_a = torch.rand(n_subsets, a.shape[0], generator=gen).argsort(dim=1)[:, :m]
    idx_b = torch.rand(n_subsets, b.shape[0], generator=gen).argsort(dim=1)[:, :m]
    per_chunk = max(1, 2 ** 22 // (m * m))  # subsets per batched block: about 16 MB per kernel matrix
    values = []
    for start in range(0, n_subsets, per_chunk):
        x, y = a[idx_a[start:start + per_chunk]], b[idx_b[start:start + per_chunk]]  # (s, m, f)
        within = (_kernel_sum(x, x, drop_diagonal=True) + _kernel_sum(y, y, drop_diagonal=True)) / (m * (m - 1))
        values.append(within - 2 * _kernel_sum(x, y, drop_diagonal=False) / (m * m))
    mmd = torch.cat(values)
    std_value = float(mmd.std()) if n_subsets > 1 else 0.0
    return float(mmd.mean()), std_value


def _distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distances between the rows of ``a`` (n, f) and ``b`` (m, f); (n, m), feature units.

    The matrix-product form sqrt(|a|^2 + |b|^2 - 2 a.b), as ``torch.cdist`` computes it for
    large sets, with the product on the canonical kernels (:func:`vaelib.blas.matmul`).
    """
    sq = a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1) - 2.0 * matmul(a, b.T)
    return sq.clamp_min_(0.0).sqrt_()


def _radii(feats: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row of the same set; shape (n,)."""
    out = []
    for block in feats.split(CHUNK):
        d = _distances(block, feats)
        out.append(d.kthvalue(k + 1, dim=1).values)  # the smallest, about 0, is the row itself
    return torch.cat(out)


def _covered(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """Boolean (n_points,): is each point inside at least one ball (centre, radius)?"""
    out = []
    for block in points.split(CHUNK):
        out.append((_distances(block, centres) <= radii).any(dim=1))
    return torch.cat(out)


def precision_recall(real_feats: torch.Tensor, fake_feats: torch.Tensor, *, k: int = 3) -> tuple[float, float]:
    """k-NN precision and recall (Kynkaanniemi et al. 2019), each a fraction in [0, 1].

    Each sample gets a ball reaching its k-th nearest neighbour within its own set.
    Precision: share of fake samples inside the union of the real balls (are samples
    realistic?). Recall: share of real samples inside the union of the fake balls (is the
    data covered?). Identical sets give (1, 1), far-apart sets (0, 0); dropping modes keeps
    precision and lowers recall. Each set needs more than k samples.
    """
    if k < 1:
        raise VaelibError(f"precision_recall needs k >= 1, got {k}")
    real, fake = _check_pair(real_feats, fake_feats, "precision_recall", min_n=k + 1)
    real, fake = real.double(), fake.double()  # exact distances, so a sample at its own centre is inside
    precision = _covered(fake, real, _radii(real, k)).double().mean()
    recall = _covered(real, fake, _radii(fake, k)).double().mean()
    return float(precision), float(recall)


def low_confidence_share(probs: torch.Tensor) -> float:
    """Share (fraction in [0, 1]) of rows of class probabilities ``probs`` (n, classes) whose maximum is < 0.5."""
    probs = _check_feats(probs, "class probabilities")
    if float(probs.min()) < 0 or float(probs.max()) > 1:
        raise VaelibError("class probabilities must lie in [0, 1]; pass softmax outputs, not logits")
    return float((probs.max(dim=1).values < 0.5).double().mean())


def mean_pixel_entropy(pixel_probs: torch.Tensor) -> float:
    """Mean Bernoulli entropy per pixel of ``pixel_probs`` (n, pixels) in [0, 1], in nats per pixel.

    0 for binary images, log 2 = 0.693 for all-grey (p = 0.5) ones: blurry decoded means
    have more grey pixels, so a higher value. Compare with the same statistic of real data.
    """
    p = _check_feats(pixel_probs, "pixel probabilities").double()
    if float(p.min()) < 0 or float(p.max()) > 1:
        raise VaelibError(f"pixel probabilities must lie in [0, 1], got values in [{float(p.min()):g}, "
                          f"{float(p.max()):g}]")
    entropy = -(torch.special.xlogy(p, p) + torch.special.xlogy(1 - p, 1 - p))
    return float(entropy.mean())


def sharpness(images: torch.Tensor, image_shape: tuple[int, int]) -> float:
    """Mean squared Laplacian of flattened ``images`` (n, h*w), in squared intensity units per pixel.

    The 5-point Laplacian (4 x centre - the 4 neighbours) over interior pixels; with
    intensities in [0, 1]. Blurring spreads edges and lowers it; 0 for constant images.
    """
    if image_shape is None or len(image_shape) != 2:
        raise VaelibError(f"sharpness needs an image shape (height, width), got {image_shape!r}")
    h, w = image_shape
    x = _check_feats(images, "images")
    if x.shape[1] != h * w or h < 3 or w < 3:
        raise VaelibError(f"images have {x.shape[1]} pixels; expected {h}x{w} = {h * w} with both sides >= 3")
    kernel = torch.tensor([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]], dtype=torch.float64)
    lap = F.conv2d(x.double().view(-1, 1, h, w), kernel.view(1, 1, 3, 3))
    return float(lap.pow(2).mean())


@torch.no_grad()
def sample_quality(
    model: AutoEncoder,
    clf: FeatureClassifier,
    data: Dataset,
    *,
    sampler: Sampler,
    n_samples: int,
    seed: int,
    real_feats: torch.Tensor | None = None,
) -> dict[str, float]:
    """Sample-quality statistics of ``model`` decoding ``n_samples`` codes drawn from ``sampler``.

    Codes ``sampler.sample(n_samples, seed)`` are decoded to their means (pixel
    probabilities), clipped into [0, 1] (a Gaussian decoder's mean can leave it), and compared
    with the test split on the classifier's features (``real_feats``, default
    ``clf.features(data.x_test)``). Returns:

    * ``fid`` (squared feature units), ``kid`` and ``kid_std`` (unitless; test split as reference);
    * ``precision``, ``recall`` (fractions, k = 3);
    * ``low_confidence_share``: share of samples the classifier labels with confidence < 0.5;
    * ``pixel_entropy_nats`` (nats per pixel, Bernoulli decoders only) and ``sharpness``
      (squared intensity per pixel, image data only): blur-sensitive, read them against the
      same statistics of the real test images.

    Use the same ``n_samples`` for every model; it must exceed the feature dimension (128).
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, Integral) or n_samples < 2:
        raise VaelibError(f"n_samples must be an integer >= 2, got {n_samples!r}")
    if sampler.latent_dim != model.latent_dim:
        raise VaelibError(f"the sampler draws {sampler.latent_dim}-d codes; the model's latent_dim is "
                          f"{model.latent_dim}")
    clf_device = next(clf.parameters()).device
    z = sampler.sample(n_samples, seed)
    decoded = torch.cat([model.decode(zb.to(model.device)) for zb in z.split(1000)]).float()
    if not torch.isfinite(decoded).all():
        raise VaelibError(f"the decoder produced NaN or infinite values for {sampler.name!r} codes")
    images = decoded.clamp(0, 1)
    fake_feats = clf.features(images.to(clf_device)).cpu()
    probs = clf.predict_proba(images.to(clf_device)).cpu()
    if real_feats is None:
        real_feats = clf.features(data.x_test.to(clf_device))
    real_feats = real_feats.detach().cpu()

    fid_value = fid(real_feats, fake_feats)  # first: it has the strictest sample-size check
    kid_mean, kid_std = kid(real_feats, fake_feats, seed=seed)
    precision, recall = precision_recall(real_feats, fake_feats)
    out = {
        "fid": fid_value,
        "kid": kid_mean,
        "kid_std": kid_std,
        "precision": precision,
        "recall": recall,
        "low_confidence_share": low_confidence_share(probs),
    }
    images = images.cpu()
    if model.likelihood == "bernoulli":
        out["pixel_entropy_nats"] = mean_pixel_entropy(images)
    if data.image_shape is not None:
        out["sharpness"] = sharpness(images, data.image_shape)
    return out



def sample_metrics(ctx: EvaluationContext) -> dict[str, float]:
    """The samples group: ``{name: value}`` as declared in :data:`METRIC_GROUP`.

    The feature classifier's accuracy on the scored images; the real-image floors (:func:`real_floor`:
    held-out real images, the whole training split or, for ``split="validation"``, the model's
    training images, against the scored images); the scored images' pixel entropy (Bernoulli
    decoders); then, per sampler of ``ctx.samplers`` fitted to the encoder means of the images the
    model trained on, :func:`sample_quality` of ``ctx.n_samples`` decoded codes as ``<sampler>/<statistic>``.
    """
    model, x, seed, clf = ctx.model, ctx.x_scored, ctx.seed, ctx.feature_classifier
    record = {"classifier_accuracy": classifier_accuracy(clf, x, ctx.scored.y_test.to(model.device))}
    held_out = ctx.scored.x_train if ctx.split == "validation" else ctx.data.x_train
    with torch.no_grad():
        real_feats = clf.features(x)
    with torch.no_grad():
        heldout_feats = clf.features(held_out.to(model.device))
    floor = real_floor(real_feats, heldout_feats, ctx.n_samples, seed=seed)
    record.update(real_fid_floor=floor["fid"], real_fid_floor_std=floor["fid_std"], real_kid_floor=floor["kid"],
                  real_precision_floor=floor["precision"], real_recall_floor=floor["recall"],
                  real_floor_n=floor["n"])
    if model.likelihood == "bernoulli":
        record["real_pixel_entropy_nats"] = mean_pixel_entropy(x)
    train_means = model.encode_means(ctx.trained_on.x_train)
    for name in ctx.samplers:
        sampler = fit_sampler(name, train_means, seed=seed)
        q = sample_quality(model, clf, ctx.data, sampler=sampler, n_samples=ctx.n_samples, seed=seed,
                           real_feats=real_feats)
        record.update({f"{name}/{key}": value for key, value in q.items()})
    return record


#: The samples group of :func:`vaelib.metrics.evaluate` and the names it emits (``<sampler>/...``: one per sampler).
METRIC_GROUP = MetricGroup("samples", sample_metrics, needs_codes=True, needs_classifier=True, emits={
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
})


__all__ = [
    "FLOOR_MEMO_SIZE", "FLOOR_SUBSETS", "METRIC_GROUP", "fid", "kid", "kid_scale", "low_confidence_share", "mean_pixel_entropy",
    "precision_recall", "real_floor", "sample_metrics", "sample_quality", "sharpness",
]
