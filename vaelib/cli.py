"""Command line: ``python -m vaelib train ...`` (and ``--help``).

Bad input prints one line ``error: ...`` on stderr and exits with status 2; nothing is
written before every argument has been checked.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .compare import BETA_GRID, DATA_FRACTIONS, SELECTION_DIM, SIGMA0_GRID
from .config import DESIGNS, LIKELIHOODS, TRUNKS, TrainConfig
from .data import DATASETS
from .errors import TrainingDivergedError, VaelibError
from .numerics import ENV_VAR, MODES
from .regularisers import REGULARISERS

CHECKPOINT_NAME = "checkpoint.pt"


def _listing(title: str, items: dict[str, str]) -> str:
    return title + ":\n" + "\n".join(f"  {k:<20} {v}" for k, v in items.items())


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m vaelib``."""
    epilog = "\n\n".join([
        _listing("designs", {k: d.description for k, d in DESIGNS.items()}),
        _listing("regularisers", {k: r.description for k, r in REGULARISERS.items()}),
        _listing("data sets", DATASETS),
        _listing(f"numerics (${ENV_VAR}, read when vaelib is imported)", MODES),
    ])
    parser = argparse.ArgumentParser(
        prog="python -m vaelib", description="Train and compare the book's auto-encoder designs.",
        epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train one model and write its checkpoint", epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    d = TrainConfig()
    t.add_argument("--design", default=d.design, help=f"one of {', '.join(DESIGNS)} (default {d.design})")
    t.add_argument("--dataset", default=d.dataset, help=f"one of {', '.join(DATASETS)} (default {d.dataset})")
    t.add_argument("--latent-dim", type=int, default=d.latent_dim, help=f"latent dimensions (default {d.latent_dim})")
    t.add_argument("--hidden-dims", type=int, nargs="+", default=list(d.hidden_dims),
                   help="hidden layer widths of the trunk (default 400)")
    t.add_argument("--trunk", default=d.trunk, help=f"one of {', '.join(TRUNKS)} (default {d.trunk})")
    t.add_argument("--regulariser", default=None,
                   help=f"override the design's regulariser: one of {', '.join(REGULARISERS)}")
    t.add_argument("--weight", type=float, default=None, help="regulariser weight (default: the design's)")
    t.add_argument("--sigma0", type=float, default=d.sigma0, help=f"mean-only noise scale (default {d.sigma0})")
    t.add_argument("--likelihood", default=d.likelihood, help=f"one of {', '.join(LIKELIHOODS)}")
    t.add_argument("--sigma-x", type=float, default=d.sigma_x, help="Gaussian likelihood std (default 0.1)")
    t.add_argument("--epochs", type=int, default=d.epochs, help=f"default {d.epochs}")
    t.add_argument("--batch-size", type=int, default=d.batch_size, help=f"default {d.batch_size}")
    t.add_argument("--lr", type=float, default=d.lr, help=f"Adam learning rate (default {d.lr})")
    t.add_argument("--seed", type=int, default=d.seed, help="training seed (default 0)")
    t.add_argument("--data-seed", type=int, default=d.data_seed, help="train/test split seed (default 0)")
    t.add_argument("--out", required=True, type=Path, help=f"folder for {CHECKPOINT_NAME} and history.json")
    t.add_argument("--overwrite", action="store_true", help="replace a checkpoint already in --out")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    c = sub.add_parser("compare", help="the head-to-head: tables and verdicts, as CSV and Markdown",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Run the head-to-head exactly as notebook 5 does (vaelib.compare.run_head_to_head, "
                                   "the same defaults): select sigma0 and beta on the validation split, train (or load "
                                   "from the cache) every design at every latent dim and seed, evaluate each, and "
                                   "write records.csv, summary.csv, summary.md, verdicts.csv, verdicts.md, sanity.csv "
                                   "and selections.csv to --out.")
    c.add_argument("--dataset", default="mnist5k", help=f"one of {', '.join(DATASETS)} (default mnist5k)")
    c.add_argument("--latent-dims", type=int, nargs="+", default=[2, 8, 32], help="default 2 8 32")
    c.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="default 0 1 2 3 4")
    c.add_argument("--epochs", type=int, default=30, help="default 30")
    c.add_argument("--n-samples", type=int, default=1000, help="decoded samples per sampler (default 1000)")
    c.add_argument("--data-fractions", type=float, nargs="+", default=list(DATA_FRACTIONS),
                   help=f"shares of the training split in claim 7's sweep (default "
                        f"{' '.join(map(str, DATA_FRACTIONS))})")
    c.add_argument("--sigma0-grid", type=float, nargs="+", default=list(SIGMA0_GRID),
                   help=f"mean-only sigma0 candidates (default {' '.join(map(str, SIGMA0_GRID))})")
    c.add_argument("--beta-grid", type=float, nargs="+", default=list(BETA_GRID),
                   help=f"VAE beta candidates (default {' '.join(map(str, BETA_GRID))})")
    c.add_argument("--selection-dim", type=int, default=SELECTION_DIM,
                   help=f"latent dim of the selections (default {SELECTION_DIM})")
    c.add_argument("--out", required=True, type=Path, help="folder for the tables")
    c.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def run_compare(args: argparse.Namespace) -> int:
    """Run the head-to-head as the arguments say and write its tables; return the exit status."""
    from .compare import run_head_to_head
    from .notebook import check_parameters

    for d in [*args.latent_dims, args.selection_dim]:
        check_parameters(args.dataset, d, args.epochs, args.seeds)
    h2h = run_head_to_head(args.dataset, args.latent_dims, args.seeds, args.epochs, n_samples=args.n_samples,
                           data_fractions=args.data_fractions, sigma0_grid=args.sigma0_grid, beta_grid=args.beta_grid,
                           selection_dim=args.selection_dim, progress=not args.no_progress)
    paths = h2h.write(args.out)
    verdicts = h2h.verdicts()
    print(f"{len(h2h.records)} records; verdicts: " + ", ".join(f"{k} {v}" for k, v in verdicts["verdict"].items()))
    print(f"tables in {args.out}: " + ", ".join(p.name for p in paths))
    return 0


def _config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        design=args.design, dataset=args.dataset, latent_dim=args.latent_dim, hidden_dims=tuple(args.hidden_dims),
        trunk=args.trunk, regulariser=args.regulariser, weight=args.weight, sigma0=args.sigma0,
        likelihood=args.likelihood, sigma_x=args.sigma_x, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, seed=args.seed, data_seed=args.data_seed,
    )


def run_train(args: argparse.Namespace) -> int:
    """Train as the arguments say, write the checkpoint, print a summary; return the exit status."""
    from .checkpoint import save_checkpoint
    from .data import dataset_for
    from .training import train

    config = _config_from_args(args)
    out: Path = args.out
    target = out / CHECKPOINT_NAME
    if target.exists() and not args.overwrite:
        raise VaelibError(f"{target} exists; pass --overwrite to replace it or choose another --out")
    if out.exists() and not out.is_dir():
        raise VaelibError(f"--out {out} exists and is not a folder")
    data = dataset_for(config)
    start = time.perf_counter()
    result = train(config, data, progress=not args.no_progress)
    wall = time.perf_counter() - start
    save_checkpoint(result, target)
    (out / "history.json").write_text(json.dumps(result.history.to_dict(), indent=1))
    h = result.history
    final = h.final("test")
    print(f"design {config.design} on {config.dataset}, latent dim {config.latent_dim}, {h.epochs} epochs, "
          f"seed {config.seed}")
    if final:
        print("test (nats/example): " + ", ".join(f"{k} {v:.2f}" for k, v in final.items()))
    print(f"time {wall:.1f} s (training passes {h.train_seconds:.1f} s, {h.samples_per_second:,.0f} samples/s)")
    print(f"checkpoint: {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status (0 ok, 2 bad input, 3 diverged)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return run_train(args)
        if args.command == "compare":
            return run_compare(args)
    except VaelibError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingDivergedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    return 0


__all__ = ["build_parser", "main", "run_compare", "run_train"]
