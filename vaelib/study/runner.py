"""The head-to-head run: every design, same budget, several seeds and latent dims, the selections, the contestants.

:func:`run_head_to_head` is what notebook 5 and ``python -m vaelib compare`` run, from one
:class:`vaelib.study.HeadToHeadSettings`; :func:`run_comparison` trains (or loads from the cache)
and evaluates the designs; :class:`HeadToHead` holds what was measured and turns it into the
book's tables and verdicts.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..claims import Claim, ClaimResult, NotTested, claim_results, metric_values, verdict_table
from ..config import TrainConfig
from ..data import Dataset, load_dataset
from ..errors import VaelibError
from .claim_table import book_claims
from .contestants import ClaimRoles, head_to_head_designs
from .sanity import sanity_checks
from .settings import HeadToHeadSettings
from .tables import format_mean_std, summary_table

if TYPE_CHECKING:
    from ..selection import Selection
    from ..training import History

#: What the head-to-head adds to each record of :func:`vaelib.metrics.evaluate` (units in brackets).
HEAD_TO_HEAD_RECORD_DOCS: dict[str, str] = {
    "mi_upper_tight_nats": "head-to-head only: the tighter of two upper bounds on I_q(x; z), mi_upper_nats and log N "
                           "(mi_ceiling_nats; Hoffman & Johnson 2016) (nats)",
    "train_bce_nats": "head-to-head only: reconstruction of the model's own training images, as recon_bce_nats "
                      "(nats/image)",
    "gen_gap_nats": "head-to-head only: recon_bce_nats minus train_bce_nats (nats/image)",
    "n_train": "head-to-head only: number of training images of the model",
}


def run_comparison(
    settings: HeadToHeadSettings,
    sigma0: float,
    *,
    extra: Sequence[tuple[str, TrainConfig]] = (),
    designs: Sequence[str] | None = None,
    code_space_metrics: bool = True,
    progress: bool = True,
    cache_dir: str | None = None,
) -> list[dict[str, Any]]:
    """Train/load and evaluate every design x latent dim x seed of ``settings``; return one record per model.

    Each record holds ``design`` (the label), ``latent_dim``, ``seed``, ``n_train`` (training
    images), every metric of :func:`vaelib.metrics.evaluate` (with ``n_samples`` decoded samples
    per sampler), with ``code_space_metrics`` the metrics of its ``code_space`` group, and the keys of
    :data:`HEAD_TO_HEAD_RECORD_DOCS`. The mean-only model trains with ``sigma0``. ``designs``
    limits the designs of :func:`head_to_head_designs` (None: all, plus the noise-only encoder's
    MI); ``extra`` adds (label, config) models. Models and records come from the caches when present.
    """
    from .. import metrics
    from ..data import training_view
    from ..metrics.likelihood import reconstruction_errors
    from ..parallel import train_many

    dataset, latent_dims, seeds, epochs = settings.dataset, settings.latent_dims, settings.seeds, settings.epochs
    if not latent_dims or not seeds:
        raise VaelibError("the comparison needs at least one latent dim and one seed")
    data = load_dataset(dataset)
    jobs = [(label, TrainConfig(design=design, dataset=dataset, latent_dim=d, epochs=epochs, seed=s, **more))
            for d in latent_dims for label, design, more in head_to_head_designs(sigma0)
            if designs is None or label in designs for s in seeds] + list(extra)
    # train and evaluate every model not cached yet, one worker process per core; the loop below then reads caches
    results = train_many([c for _, c in jobs], data=data, cache_dir=cache_dir,
                         evaluate={"n_samples": settings.n_samples}, progress=progress)
    records = []
    for (label, config), result in zip(jobs, results):
        record = metrics.evaluate_cached(result, data, n_samples=settings.n_samples, cache_dir=cache_dir)
        if code_space_metrics:
            record.update(metrics.evaluate_cached(result, data, groups=("code_space",), cache_dir=cache_dir))
        own = training_view(data, config)
        train_bce = reconstruction_errors(result.model, own.x_train.to(result.model.device))
        if "mi_upper_nats" in record:   # I(x; z) <= log N too (Hoffman & Johnson 2016): the tighter of the two
            record["mi_upper_tight_nats"] = min(record["mi_upper_nats"], record["mi_ceiling_nats"])
        record["train_bce_nats"] = train_bce["bce_nats"]
        record["gen_gap_nats"] = record["recon_bce_nats"] - train_bce["bce_nats"]
        records.append({"design": label, "latent_dim": config.latent_dim, "seed": config.seed,
                        "n_train": int(own.x_train.shape[0]), **record})
    if designs is None:
        for dim in latent_dims:
            for seed in seeds:
                records.append({"design": "noise-only", "latent_dim": dim, "seed": seed,
                                "mi_nats": noise_only_mutual_information(dataset, dim, seed, data=data)})
    return records


def noise_only_mutual_information(dataset: str, latent_dim: int, seed: int, data: Dataset | None = None) -> float:
    """I_q(x; z) in nats, measured like every other design's, for the thread's "noise-only" encoder z = eps.

    The model is a VAE whose head is zeroed, so q(z|x) = N(0, I) for every x.
    """
    import torch

    from ..metrics.latent import mutual_information
    from ..models import build_model

    data = data if data is not None else load_dataset(dataset)
    torch.manual_seed(seed)
    model = build_model(TrainConfig(design="vae", dataset=dataset, latent_dim=latent_dim), data.dim, data.image_shape)
    with torch.no_grad():
        model.to_code.weight.zero_()
        model.to_code.bias.zero_()
    return mutual_information(model.eval(), data.x_train, seed=seed)


def matched_epochs(history: History, target: float) -> int:
    """The first epoch whose mean training reconstruction (nats per image) is at or below ``target``;
    the last epoch when none is."""
    values = history.train["reconstruction"]
    return next((e for e, v in enumerate(values, start=1) if v <= target), len(values))


@dataclass
class HeadToHead:
    """Everything the head-to-head measured: records per model, the selections, the data's intrinsic dim.

    ``records``: one dict per trained model (``design``, ``latent_dim``, ``seed``, ``n_train`` and
    every metric), plus the noise-only encoder's MI; ``selections``: the validation selections by
    name; ``sweeps``: their validation tables (:func:`vaelib.selection.validation_sweep`) by field;
    ``data_intrinsic_dim``: TwoNN estimate of the training images' intrinsic dimension;
    ``roles``: which record labels play the tuned and matched roles; ``settings``: what was run.
    """

    records: list[dict[str, Any]]
    selections: dict[str, Selection]
    sweeps: dict[str, pd.DataFrame]
    data_intrinsic_dim: float
    roles: ClaimRoles
    settings: HeadToHeadSettings

    @property
    def frame(self) -> pd.DataFrame:
        """The records of trained models (the noise-only rows left out) as a DataFrame."""
        return pd.DataFrame([r for r in self.records if r["design"] != "noise-only"])

    @property
    def dims(self) -> list[int]:
        """The latent dims compared."""
        return list(self.settings.latent_dims)

    @property
    def above_intrinsic(self) -> list[int]:
        """The latent dims above the data's estimated intrinsic dimension."""
        return [d for d in self.dims if d > self.data_intrinsic_dim]

    def cli_command(self, out: str = "results/") -> str:
        """The ``python -m vaelib compare`` command that reproduces this run (:meth:`HeadToHeadSettings.cli_command`)."""
        return self.settings.cli_command(out)

    def mean(self, design: str, metric: str, dim: int) -> float:
        """The mean over seeds of ``metric`` for the records labelled ``design`` at latent dim ``dim``."""
        return float(pd.Series(metric_values(self.frame, design, dim, metric)).mean())

    def claims(self) -> list[Claim]:
        """:func:`vaelib.study.book_claims` for this run's dims, roles and intrinsic dimension."""
        mid = self.dims[len(self.dims) // 2]
        return book_claims(self.dims, above_intrinsic=self.above_intrinsic, roles=self.roles, mid_dim=mid)

    def results(self) -> dict[str, ClaimResult | NotTested]:
        """Each claim's :class:`vaelib.claims.ClaimResult` by id (or :class:`vaelib.claims.NotTested`)."""
        return claim_results(self.records, self.claims())

    def verdicts(self) -> pd.DataFrame:
        """The verdict table (:func:`vaelib.claims.verdict_table`), one row per claim id."""
        return verdict_table(self.records, self.claims())

    def sanity(self) -> pd.DataFrame:
        """The sanity-check table (:func:`vaelib.study.sanity_checks`)."""
        return sanity_checks(self.records)

    def summary(self) -> pd.DataFrame:
        """Mean and std over seeds of every metric per (design, latent dim) (:func:`vaelib.study.summary_table`)."""
        return summary_table(self.frame.drop(columns=["n_train"]).to_dict("records"))

    def write(self, out: str | Path) -> list[Path]:
        """Write the tables into ``out``: records.csv (one row per model), summary.csv (mean and std),
        summary.md (mean ± std), verdicts.csv and verdicts.md, sanity.csv and selections.csv.
        Returns the paths written."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        sel = pd.DataFrame([{"selection": k, "field": s.field, "metric": s.metric, "chosen": s.best,
                             "at edge of grid": s.at_edge, "scores": s.describe(2)} for k, s in self.selections.items()])
        tables = {"records.csv": pd.DataFrame(self.records), "summary.csv": self.summary(),
                  "verdicts.csv": self.verdicts(), "sanity.csv": self.sanity(), "selections.csv": sel}
        paths = []
        for name, table in tables.items():
            table.to_csv(out / name, float_format="%.6g")
            paths.append(out / name)
        for name, table in (("summary.md", format_mean_std(tables["summary.csv"])), ("verdicts.md", tables["verdicts.csv"])):
            (out / name).write_text(table.to_markdown() + "\n")
            paths.append(out / name)
        return paths


def run_head_to_head(settings: HeadToHeadSettings | None = None, *, progress: bool = True,
                     cache_dir: str | None = None) -> HeadToHead:
    """The whole head-to-head, as notebook 5 and ``python -m vaelib compare`` run it (default: the book's settings).

    1. Selections on the validation split (:mod:`vaelib.selection`) at ``selection_dim`` and the
       first seed: sigma0 by prior FID and by ELBO, the VAE's beta by prior FID.
    2. Every design at every latent dim and seed (:func:`run_comparison`, mean-only with the
       FID-selected sigma0), plus the tuned contestants of claims 4 and 8b, the VAE on
       ``data_fractions`` of the training images at the middle latent dim (claim 7), and an AE trained for as
       many epochs as it takes to reach the VAE's training reconstruction (claim 8c).
    3. The code-space metrics (``code_space`` group) and the TwoNN intrinsic dim of the training images.
    Returns a :class:`HeadToHead`. Everything is cached, so a second call only reads.
    """
    from ..metrics.intrinsic import two_nn_dimension
    from ..metrics.likelihood import reconstruction_errors
    from ..parallel import train_many
    from ..selection import select, validation_sweep

    settings = settings if settings is not None else HeadToHeadSettings()
    dataset, epochs, n_samples = settings.dataset, settings.epochs, settings.n_samples
    dims, seeds = list(settings.latent_dims), list(settings.seeds)
    if not dims or not seeds:
        raise VaelibError("the head-to-head needs at least one latent dim and one seed")
    data = load_dataset(dataset)
    n_full = int(data.x_train.shape[0])
    if any(not 0 < f < 1 for f in settings.data_fractions):
        raise VaelibError(f"data fractions must lie in (0, 1), got {list(settings.data_fractions)}")
    sizes = sorted({round(f * n_full) for f in settings.data_fractions})
    base = TrainConfig(dataset=dataset, latent_dim=settings.selection_dim, epochs=epochs, seed=seeds[0])
    s_table = validation_sweep(base.replace(design="mean-only"), "sigma0", settings.sigma0_grid, data=data,
                               n_samples=n_samples, cache_dir=cache_dir, progress=progress)
    b_table = validation_sweep(base.replace(design="vae"), "weight", settings.beta_grid, data=data, n_samples=n_samples,
                               cache_dir=cache_dir, progress=progress)
    selections = {"sigma0 (prior FID)": select(s_table, "prior/fid"),
                  "sigma0 (ELBO)": select(s_table, "elbo_nats", maximise=True),
                  "beta (prior FID)": select(b_table, "prior/fid")}
    sigma0 = selections["sigma0 (prior FID)"].best
    sigma0_elbo, beta = selections["sigma0 (ELBO)"].best, selections["beta (prior FID)"].best
    mid = dims[len(dims) // 2]

    def cfg(design: str, dim: int, seed: int, **extra: Any) -> TrainConfig:
        return TrainConfig(**{"design": design, "dataset": dataset, "latent_dim": dim, "epochs": epochs, "seed": seed,
                              **extra})

    extra: list[tuple[str, TrainConfig]] = []
    roles = ClaimRoles(n_train=n_full)
    if beta != 1.0:
        extra += [("vae-beta", cfg("vae", d, s, weight=beta)) for d in dims for s in seeds]
        roles = replace(roles, vae_tuned="vae-beta")
    if sigma0_elbo != sigma0:
        extra += [("mean-only-elbo", cfg("mean-only", d, s, sigma0=sigma0_elbo)) for d in dims for s in seeds]
        roles = replace(roles, mean_only_elbo="mean-only-elbo")
    small = tuple((n, f"vae-n{n}") for n in sizes)
    extra += [(label, cfg("vae", mid, s, n_train=n)) for n, label in small for s in seeds]
    roles = replace(roles, small_data=small)

    records = run_comparison(settings, sigma0, extra=extra, progress=progress, cache_dir=cache_dir)
    # claim 8c: an AE stopped where its training reconstruction reaches the VAE's (same seed and dim). The
    # history's per-epoch training loss is a running mean over the epoch, so the candidates are that epoch and
    # the one before; the one whose measured training reconstruction is closer to the VAE's is kept.
    by_key = {(r["design"], r["latent_dim"], r["seed"]): r for r in records}
    cells = [(d, s) for d in dims for s in seeds]
    full_ae = dict(zip(cells, train_many([cfg("ae", d, s) for d, s in cells], data=data, cache_dir=cache_dir,
                                         progress=False)))
    candidates = {}
    for d, s in cells:
        e = matched_epochs(full_ae[(d, s)].history, by_key[("vae", d, s)]["train_bce_nats"])
        candidates[(d, s)] = [cfg("ae", d, s, epochs=k) for k in sorted({max(1, e - 1), e})]
    flat = [c for cs in candidates.values() for c in cs]
    trained = dict(zip([c.to_json() for c in flat], train_many(flat, data=data, cache_dir=cache_dir, progress=False)))
    matched = []
    for (d, s), cs in candidates.items():
        target = by_key[("vae", d, s)]["train_bce_nats"]
        fits = {c.to_json(): reconstruction_errors(trained[c.to_json()].model, data.x_train)["bce_nats"] for c in cs}
        best = min(cs, key=lambda c: abs(fits[c.to_json()] - target))
        matched.append(("ae-matched", best))
    records += run_comparison(settings, sigma0, extra=matched, designs=(), progress=progress, cache_dir=cache_dir)
    data_id = two_nn_dimension(data.x_train)
    return HeadToHead(records, selections, {"sigma0": s_table, "beta": b_table}, data_id, roles, settings)


__all__ = ["HEAD_TO_HEAD_RECORD_DOCS", "HeadToHead", "matched_epochs", "noise_only_mutual_information",
           "run_comparison", "run_head_to_head"]
