"""The head-to-head run: the factorial's designs tuned at every latent dim, trained over seeds, scored, recorded.

:func:`run_head_to_head` is what ``python -m vaelib study head-to-head`` (and ``compare``) runs, from
one :class:`vaelib.study.HeadToHeadSettings`:

1. Tuning on the validation split, at every latent dim and the first seed
   (:func:`tune`): beta, the MMD weight (and the learned-sigma MMD cell's own, a robustness
   check), the sliced-Wasserstein weight, then the fixed-noise row's sigma0 at the chosen beta.
2. Every design of :data:`vaelib.study.CELLS` at every latent dim and seed with those settings,
   scored by every metric group (the default ones with all four samplers, the code-space test,
   AIS); the AE and the VAE on smaller training sets at the middle latent dim (claim 7); an AE
   stopped where its training reconstruction reaches the VAE's (claim 8c); the thread's
   noise-only encoder (a sanity check).
3. A :class:`HeadToHead` that holds the records and turns them into the book's tables and
   verdicts, and writes them (:meth:`HeadToHead.write`), or reads them back from a committed study
   (:func:`load_head_to_head`).
"""
from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ..claims import Claim, ClaimResult, NotTested, claim_results, metric_values, verdict_table
from ..config import TrainConfig
from ..data import Dataset, load_dataset, training_view
from ..errors import VaelibError
from ..selection import Selection, select
from .factorial import CELLS, Tuned, cell_config
from .records import STUDIES_DIR, provenance, read_study, write_study
from .sanity import sanity_checks
from .settings import HeadToHeadSettings
from .tables import format_mean_std, summary_table

#: What the head-to-head adds to each record of :func:`vaelib.metrics.evaluate` (units in brackets).
HEAD_TO_HEAD_RECORD_DOCS: dict[str, str] = {
    "design": "the design's label (a cell of vaelib.study.CELLS, or a single claim's model such as ae-matched)",
    "encoder_noise": "how z depends on x: none (z = f(x)), fixed (mu + sigma0 eps) or learned (mu + sigma(x) eps)",
    "regulariser": "the regulariser on the codes: none, kl, l2, mmd or sliced-wasserstein",
    "weight": "the regulariser's weight (beta for kl and l2, lambda for mmd and sliced-wasserstein; unitless)",
    "sigma0": "the fixed noise's standard deviation (latent units; empty for other noise levels)",
    "n_train": "number of training images of the model",
    "epochs_trained": "epochs of training",
    "weights_sha256": "the first 16 hex digits of the sha256 of the model's weights (what a retraining must reproduce)",
    "config": "the model's TrainConfig as JSON",
    "train_bce_nats": "reconstruction of the model's own training images, as recon_bce_nats (nats/image)",
    "gen_gap_nats": "recon_bce_nats minus train_bce_nats (nats/image)",
    "gmm_gain_fid": "prior/fid minus gmm/fid: what the ex-post GMM gains over N(0, I) samples (FID units)",
    "gmm_gain_log_fid": "log(prior/fid) minus log(gmm/fid): the same gain, relative (unitless)",
}

#: The metrics of the head-to-head's main table (name -> short column label): what the verdicts use most.
MAIN_TABLE_METRICS: dict[str, str] = {"recon_bce_nats": "recon [nats]", "prior/fid": "prior FID",
                                      "prior/precision": "precision", "prior/recall": "recall",
                                      "agg_c2st_accuracy": "C2ST acc.", "loglik_ais_nats": "log p(x) AIS [nats]"}

#: The name of the head-to-head's study: its records live in ``book/_generated/studies/head-to-head``.
STUDY_NAME = "head-to-head"

#: Every sampler of a main design's evaluation (the two-stage VAE only for these: seconds per model).
MAIN_SAMPLERS: tuple[str, ...] = ("prior", "gaussian", "gmm", "two-stage")


def main_evaluations(settings: HeadToHeadSettings) -> list[dict[str, Any]]:
    """The evaluations of every main model (keyword arguments of :func:`vaelib.metrics.evaluate_cached`): the
    default groups with all four samplers, the code-space group, and the AIS log-likelihood."""
    return [{"n_samples": settings.n_samples, "samplers": MAIN_SAMPLERS}, {"groups": ("code_space",)},
            {"groups": ("ais",)}]


def extra_evaluations(settings: HeadToHeadSettings) -> list[dict[str, Any]]:
    """The evaluation of the single claims' models (data-size sweep, matched AE): the default groups."""
    return [{"n_samples": settings.n_samples}]


def weights_digest(model: torch.nn.Module) -> str:
    """The first 16 hex digits of the sha256 of every weight of ``model`` (its state_dict's bytes, in order)."""
    h = hashlib.sha256()
    for value in model.state_dict().values():
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def model_record(label: str, config: TrainConfig, data: Dataset, evaluations: Sequence[dict[str, Any]], *,
                 cache_dir: str | None = None) -> dict[str, Any]:
    """One record: the model of ``config`` (from the cache, or trained) labelled ``label``, its settings, its weights'
    digest and every metric of ``evaluations`` (from the cache, or computed), plus the keys of
    :data:`HEAD_TO_HEAD_RECORD_DOCS`."""
    from ..cache import load_or_train
    from ..metrics import evaluate_cached
    from ..metrics.likelihood import reconstruction_errors

    result = load_or_train(config, data=data, cache_dir=cache_dir, progress=False)
    record: dict[str, Any] = {}
    for kwargs in evaluations:
        record.update(evaluate_cached(result, data, cache_dir=cache_dir, **kwargs))
    own = training_view(data, config)
    train_bce = reconstruction_errors(result.model, own.x_train.to(result.model.device))["bce_nats"]
    gains = {"gmm_gain_fid": record["prior/fid"] - record["gmm/fid"],
             "gmm_gain_log_fid": math.log(record["prior/fid"]) - math.log(record["gmm/fid"])}
    return {"design": label, "encoder_noise": config.encoder_noise, "regulariser": config.regulariser_name,
            "weight": config.regulariser_weight if config.regulariser_name != "none" else float("nan"),
            "sigma0": config.sigma0 if config.encoder_noise == "fixed" else float("nan"),
            "latent_dim": config.latent_dim, "seed": config.seed, "n_train": int(own.x_train.shape[0]),
            "epochs_trained": result.history.epochs, "weights_sha256": weights_digest(result.model),
            "config": config.to_json(), **record, "train_bce_nats": train_bce,
            "gen_gap_nats": record["recon_bce_nats"] - train_bce, **gains}


def noise_only_mutual_information(dataset: str, latent_dim: int, seed: int, data: Dataset | None = None) -> float:
    """I_q(x; z) in nats, measured like every other design's, for the thread's "noise-only" encoder z = eps.

    The model is a VAE whose head is zeroed, so q(z|x) = N(0, I) for every x.
    """
    from ..metrics.latent import aggregate_information
    from ..models import build_model

    data = data if data is not None else load_dataset(dataset)
    torch.manual_seed(seed)
    model = build_model(TrainConfig(design="vae", dataset=dataset, latent_dim=latent_dim), data.dim, data.image_shape)
    with torch.no_grad():
        model.to_code.weight.zero_()
        model.to_code.bias.zero_()
    return aggregate_information(model.eval(), data.x_train, seed=seed)["mi_nats"]


def matched_epochs(history: Any, target: float) -> int:
    """The first epoch whose mean training reconstruction (nats per image) is at or below ``target``;
    the last epoch when none is."""
    values = history.train["reconstruction"]
    return next((e for e, v in enumerate(values, start=1) if v <= target), len(values))


#: The tuned settings: (name, the cell it is swept on, the TrainConfig field, the metric, whether higher is better).
SWEEPS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("beta", "vae", "weight", "prior/fid", False),
    ("mmd", "wae-mmd", "weight", "prior/fid", False),
    ("mmd (learned sigma)", "learned-mmd", "weight", "prior/fid", False),
    ("sw", "swae", "weight", "prior/fid", False),
    ("sigma0", "mean-only", "sigma0", "elbo_nats", True),
)


def _grid(settings: HeadToHeadSettings, name: str) -> tuple[float, ...]:
    return {"beta": settings.beta_grid, "mmd": settings.mmd_weight_grid, "mmd (learned sigma)": settings.mmd_weight_grid,
            "sw": settings.sw_weight_grid, "sigma0": settings.sigma0_grid}[name]


def tune(settings: HeadToHeadSettings, data: Dataset, *, progress: bool = True,
         cache_dir: str | None = None) -> tuple[dict[int, Tuned], dict[tuple[str, int], Selection], pd.DataFrame]:
    """Tune every setting at every latent dim on the validation split (first seed) as :data:`SWEEPS` says.

    Returns (the :class:`Tuned` settings per latent dim, the :class:`vaelib.selection.Selection` per (setting,
    latent dim), one table of every candidate's validation metrics with columns ``setting``, ``latent_dim`` and
    ``value`` first). sigma0 is swept at each latent dim's chosen beta, after the others.
    """
    from ..parallel import train_many
    from ..selection import VALIDATION_EVALUATE, validation_configs, validation_table

    evaluate = {**VALIDATION_EVALUATE, "n_samples": settings.n_samples}
    seed, dims = settings.seeds[0], settings.latent_dims
    selections: dict[tuple[str, int], Selection] = {}
    tables = []

    def sweep(stage: Sequence[tuple[str, str, str, str, bool]], tuned: dict[int, Tuned] | None) -> None:
        plan = {}
        for name, label, field, metric, maximise in stage:
            for d in dims:
                base = cell_config(label, dataset=settings.dataset, latent_dim=d, epochs=settings.epochs, seed=seed,
                                   tuned=tuned[d] if tuned else None)
                plan[(name, d)] = (validation_configs(base, field, _grid(settings, name)), field, metric, maximise)
        train_many([c for configs, *_ in plan.values() for c in configs], data=data, cache_dir=cache_dir,
                   evaluate=evaluate, progress=progress)
        for (name, d), (configs, field, metric, maximise) in plan.items():
            table = validation_table(configs, field, data=data, n_samples=settings.n_samples, cache_dir=cache_dir)
            selections[(name, d)] = select(table, metric, maximise=maximise)
            tables.append(table.reset_index().rename(columns={field: "value"}).assign(setting=name, latent_dim=d))

    sweep(SWEEPS[:-1], None)
    partial = {d: Tuned(beta=selections[("beta", d)].best, mmd=selections[("mmd", d)].best,
                        sw=selections[("sw", d)].best, sigma0=None) for d in dims}
    sweep(SWEEPS[-1:], partial)
    tuned = {d: Tuned(beta=t.beta, mmd=t.mmd, sw=t.sw, sigma0=selections[("sigma0", d)].best) for d, t in partial.items()}
    sweeps = pd.concat(tables, ignore_index=True)
    sweeps = sweeps[["setting", "latent_dim", "value", *[c for c in sweeps.columns
                                                         if c not in ("setting", "latent_dim", "value")]]]
    return tuned, selections, sweeps


@dataclass
class HeadToHead:
    """Everything the head-to-head measured: records per model, the tuned settings, the data's intrinsic dim.

    ``records``: one dict per model (the keys of :data:`HEAD_TO_HEAD_RECORD_DOCS` and every metric),
    plus the noise-only encoder's MI; ``selections``: the validation selection per (setting, latent
    dim); ``sweeps``: every candidate's validation metrics; ``tuned``: the chosen settings per latent
    dim; ``data_intrinsic_dim``: TwoNN estimate of the training images' intrinsic dimension;
    ``data_sizes``: the training-set sizes of claim 7 (the smaller ones; the full set is the main
    models'); ``settings``: what was run; ``extra``: further tables to write, by file stem.
    """

    records: list[dict[str, Any]]
    selections: dict[tuple[str, int], Selection]
    sweeps: pd.DataFrame
    tuned: dict[int, Tuned]
    data_intrinsic_dim: float
    data_sizes: list[int]
    n_train: int
    settings: HeadToHeadSettings
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def frame(self) -> pd.DataFrame:
        """The records of trained models (the noise-only rows left out) as a DataFrame."""
        return pd.DataFrame([r for r in self.records if r["design"] != "noise-only"])

    @property
    def dims(self) -> list[int]:
        """The latent dims compared."""
        return list(self.settings.latent_dims)

    @property
    def mid_dim(self) -> int:
        """The middle latent dim: where claim 7's data-size sweep runs."""
        return self.dims[len(self.dims) // 2]

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
        """:func:`vaelib.study.book_claims` for this run's dims, data sizes and intrinsic dimension."""
        from .claim_table import book_claims

        return book_claims(self.dims, above_intrinsic=self.above_intrinsic, mid_dim=self.mid_dim,
                           data_sizes=[*self.data_sizes, self.n_train], n_train=self.n_train)

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
        """Mean and std over seeds of every numeric metric per (design, latent dim) (:func:`vaelib.study.summary_table`)."""
        frame = self.frame.drop(columns=["n_train", "config", "weights_sha256", "encoder_noise", "regulariser"],
                                errors="ignore")
        return summary_table(frame.to_dict("records"))

    def selection_table(self) -> pd.DataFrame:
        """One row per tuned setting and latent dim: the metric, the choice, whether it is at the grid's edge, the scores."""
        return pd.DataFrame([{"setting": name, "latent_dim": d, "metric": s.metric, "chosen": s.best,
                              "at edge of grid": s.at_edge, "scores": s.describe(2)}
                             for (name, d), s in self.selections.items()])

    def main_table(self, metrics: dict[str, str] | None = None, digits: int = 2) -> pd.DataFrame:
        """The few metrics the verdicts use, ``mean ± std`` over seeds, one row per (design, latent dim) of the
        factorial's cells (in :data:`vaelib.study.CELLS` order): columns are ``metrics``' short labels."""
        metrics = metrics or MAIN_TABLE_METRICS
        summary = self.summary()
        cells = [c for c in CELLS if c in summary.index.get_level_values(0)]
        table = format_mean_std(summary.loc[cells, [(m, s) for m in metrics if m in summary.columns.get_level_values(0)
                                                    for s in ("mean", "std")]], digits)
        return table.rename(columns=metrics)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The run's tables by file stem: records, sweeps, selections, summary, verdicts, sanity."""
        return {"records": pd.DataFrame(self.records), "sweeps": self.sweeps, "selections": self.selection_table(),
                "summary": self.summary(), "verdicts": self.verdicts(), "sanity": self.sanity(), **self.extra}

    def write(self, out: str | Path, *, seconds: float = 0.0, command: str = "", study: str = STUDY_NAME) -> list[Path]:
        """Write :meth:`tables` as CSV (exact floats), ``summary.md`` and ``verdicts.md``, and ``provenance.json``
        (:func:`vaelib.study.records.provenance`, with the settings, the tuned values and the data's intrinsic dim)
        into ``out``, atomically. Returns the paths written."""
        from .. import store

        meta = provenance(study, seconds, command or f"python -m vaelib study {study}")
        # the seconds above are this run's; models and records may have come from the caches of an earlier one
        meta["model_train_seconds"] = round(float(sum(r.get("train_seconds", 0.0) for r in self.records
                                                      if r.get("train_seconds") == r.get("train_seconds"))), 1)
        meta.update(settings=asdict(self.settings), tuned={str(d): asdict(t) for d, t in self.tuned.items()},
                    data_intrinsic_dim=self.data_intrinsic_dim, data_sizes=self.data_sizes, n_train=self.n_train)
        tables = self.tables()
        paths = write_study(out, tables, meta)
        out = Path(out)
        for name in ("summary", "verdicts"):
            shown = format_mean_std(tables[name]) if name == "summary" else tables[name]
            paths.append(store.write_bytes(out / f"{name}.md", (shown.to_markdown() + "\n").encode()))
        return paths


def meta_study(folder: str | Path) -> str:
    """The study name that wrote ``folder`` (its provenance), or the head-to-head's when there is none yet."""
    path = Path(folder) / "provenance.json"
    if path.is_file():
        import json

        return json.loads(path.read_text()).get("study", STUDY_NAME).split("/")[0]
    return STUDY_NAME


def load_head_to_head(folder: str | Path | None = None) -> HeadToHead:
    """The :class:`HeadToHead` of the committed study in ``folder`` (default ``book/_generated/studies/head-to-head``).

    Raises VaelibError, naming the command that refreshes the records, when they are missing or
    were made by other metrics or training code (:func:`vaelib.study.records.read_study`).
    """
    folder = Path(folder) if folder is not None else STUDIES_DIR / STUDY_NAME
    tables, meta = read_study(folder, ("records", "sweeps", "selections"),
                              refresh=f"python -m vaelib study {meta_study(folder)}")
    records = [{k: v for k, v in row.items() if not (isinstance(v, float) and v != v)}
               for row in tables["records"].to_dict("records")]
    sweeps = tables["sweeps"]
    selections = {}
    for row in tables["selections"].to_dict("records"):
        name, d = row["setting"], int(row["latent_dim"])
        part = sweeps[(sweeps["setting"] == name) & (sweeps["latent_dim"] == d)]
        maximise = next(m for n, _, _, _, m in SWEEPS if n == name)
        selections[(name, d)] = Selection(field="sigma0" if name == "sigma0" else "weight", metric=row["metric"],
                                          maximise=maximise,
                                          scores={float(v): float(s) for v, s in zip(part["value"], part[row["metric"]])})
    settings = HeadToHeadSettings(**meta["settings"])
    tuned = {int(d): Tuned(**t) for d, t in meta["tuned"].items()}
    return HeadToHead(records, selections, sweeps, tuned, float(meta["data_intrinsic_dim"]), list(meta["data_sizes"]),
                      int(meta["n_train"]), settings)


def run_head_to_head(settings: HeadToHeadSettings | None = None, *, progress: bool = True,
                     cache_dir: str | None = None) -> HeadToHead:
    """The whole head-to-head (default: the book's settings); see the module docstring. Returns a :class:`HeadToHead`.

    Everything is cached (models and metric records), so a second call only reads, and an
    interrupted run resumes where it stopped.
    """
    from ..metrics.intrinsic import two_nn_dimension
    from ..metrics.likelihood import reconstruction_errors
    from ..parallel import train_many

    settings = settings if settings is not None else HeadToHeadSettings()
    dataset, epochs = settings.dataset, settings.epochs
    dims, seeds = list(settings.latent_dims), list(settings.seeds)
    if not dims or not seeds:
        raise VaelibError("the head-to-head needs at least one latent dim and one seed")
    if any(not 0 < f < 1 for f in settings.data_fractions):
        raise VaelibError(f"data fractions must lie in (0, 1), got {list(settings.data_fractions)}")
    data = load_dataset(dataset)
    n_full = int(data.x_train.shape[0])
    sizes = sorted({round(f * n_full) for f in settings.data_fractions})
    tuned, selections, sweeps = tune(settings, data, progress=progress, cache_dir=cache_dir)
    mid = dims[len(dims) // 2]

    def cfg(label: str, d: int, seed: int, **extra: Any) -> TrainConfig:
        e = extra.pop("epochs", epochs)
        return cell_config(label, dataset=dataset, latent_dim=d, epochs=e, seed=seed, tuned=tuned[d], **extra)

    main = [(label, cfg(label, d, s)) for d in dims for label in CELLS for s in seeds]
    small = [(f"{label}-n{n}", cfg(label, mid, s, n_train=n)) for n in sizes for label in ("ae", "vae") for s in seeds]
    train_many([c for _, c in main], data=data, cache_dir=cache_dir, evaluate=main_evaluations(settings),
               progress=progress)
    train_many([c for _, c in small], data=data, cache_dir=cache_dir, evaluate=extra_evaluations(settings),
               progress=progress)
    records = [model_record(label, c, data, main_evaluations(settings), cache_dir=cache_dir) for label, c in main]
    records += [model_record(label, c, data, extra_evaluations(settings), cache_dir=cache_dir) for label, c in small]
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
        matched.append(min(cs, key=lambda c: abs(fits[c.to_json()] - target)))
    train_many(matched, data=data, cache_dir=cache_dir, evaluate=extra_evaluations(settings), progress=False)
    records += [model_record("ae-matched", c, data, extra_evaluations(settings), cache_dir=cache_dir) for c in matched]
    records += [{"design": "noise-only", "latent_dim": d, "seed": s,
                 "mi_nats": noise_only_mutual_information(dataset, d, s, data=data)} for d in dims for s in seeds]
    return HeadToHead(records, selections, sweeps, tuned, two_nn_dimension(data.x_train), sizes, n_full, settings)


def run_study(settings: HeadToHeadSettings | None = None, out: str | Path | None = None, *,
              progress: bool = True) -> list[Path]:
    """Run the head-to-head and write its tables with their provenance into ``out`` (default: the committed
    study folder, ``book/_generated/studies/head-to-head``); returns the paths written."""
    settings = settings if settings is not None else HeadToHeadSettings()
    start = time.perf_counter()
    h2h = run_head_to_head(settings, progress=progress)
    command = f"python -m vaelib study {STUDY_NAME}" if settings == HeadToHeadSettings() else \
        settings.cli_command(str(out))
    return h2h.write(out if out is not None else STUDIES_DIR / STUDY_NAME, seconds=time.perf_counter() - start,
                     command=command)


__all__ = ["HEAD_TO_HEAD_RECORD_DOCS", "HeadToHead", "MAIN_SAMPLERS", "MAIN_TABLE_METRICS", "STUDY_NAME", "SWEEPS", "extra_evaluations",
           "load_head_to_head", "main_evaluations", "matched_epochs", "model_record", "noise_only_mutual_information",
           "run_head_to_head", "run_study", "tune", "weights_digest"]
