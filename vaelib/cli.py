"""Command line: ``python -m vaelib train ...``, ``compare ...`` and ``study NAME`` (and ``--help``).

Bad input prints one line ``error: ...`` on stderr and exits with status 2; nothing is
written before every argument has been checked.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import typing
from pathlib import Path
from typing import Any

from .config import DESIGNS, LIKELIHOODS, TRUNKS, TrainConfig
from .data import DATASETS
from .errors import TrainingDivergedError, VaelibError
from .numerics import ENV_VAR, MODES
from .regularisers import REGULARISERS
from .study import HeadToHeadSettings, as_option_text

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
                       description="Run the head-to-head exactly as notebook 5 does (vaelib.study.run_head_to_head, "
                                   "the same defaults: vaelib.study.HeadToHeadSettings): select sigma0 and beta on the "
                                   "validation split, train (or load from the cache) every design at every latent dim "
                                   "and seed, evaluate each, and write records.csv, summary.csv, summary.md, "
                                   "verdicts.csv, verdicts.md, sanity.csv and selections.csv to --out.")
    add_settings_options(c, HeadToHeadSettings)
    c.add_argument("--out", required=True, type=Path, help="folder for the tables")
    c.add_argument("--bottom-line", type=Path, default=None,
                   help="also write the bottom line (Markdown) to this file, as the book includes it")
    c.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    from .study.studies import STUDIES

    s = sub.add_parser("study", help="run one of the book's long studies and write its records with provenance",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Run a study too long for CI (it resumes after an interrupt: models and metric "
                                   "records are cached) and write its tables and provenance.json under "
                                   "book/_generated/studies/<name>/ (or --root).",
                       epilog=_listing("studies", STUDIES))
    s.add_argument("name", help=f"one of {', '.join(STUDIES)}")
    s.add_argument("--root", type=Path, default=None, help="folder for the studies (default book/_generated/studies)")
    s.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return parser


def add_settings_options(parser: argparse.ArgumentParser, settings_class: type) -> None:
    """Add one option per field of the frozen dataclass ``settings_class``: ``--field-name``, typed by the field's
    annotation (a ``tuple[T, ...]`` takes one or more values), with the field's default and ``help`` metadata."""
    hints = typing.get_type_hints(settings_class)
    for f in dataclasses.fields(settings_class):
        kind = hints[f.name]
        many = typing.get_origin(kind) is tuple
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=typing.get_args(kind)[0] if many else kind,
                            nargs="+" if many else None, default=f.default,
                            help=f"{f.metadata['help']} (default {as_option_text(f.default)})")


def settings_from_args(args: argparse.Namespace, settings_class: type) -> Any:
    """The ``settings_class`` instance that the options of :func:`add_settings_options` in ``args`` describe."""
    return settings_class(**{f.name: getattr(args, f.name) for f in dataclasses.fields(settings_class)})


def run_compare(args: argparse.Namespace) -> int:
    """Run the head-to-head as the arguments say and write its tables (and the answer); return the exit status."""
    from .notebook import check_head_to_head
    from .study import run_head_to_head, write_bottom_line

    settings = settings_from_args(args, HeadToHeadSettings)
    check_head_to_head(settings)
    h2h = run_head_to_head(settings, progress=not args.no_progress)
    paths = h2h.write(args.out)
    verdicts = h2h.verdicts()
    print(f"{len(h2h.records)} records; verdicts: " + ", ".join(f"{k} {v}" for k, v in verdicts["verdict"].items()))
    print(f"tables in {args.out}: " + ", ".join(p.name for p in paths))
    if args.bottom_line is not None:
        print(f"bottom line: {write_bottom_line(h2h, args.bottom_line)}")
    return 0


def run_study_command(args: argparse.Namespace) -> int:
    """Run the named study and write its records; return the exit status (2 for an unknown name)."""
    from .study.studies import run_named_study

    start = time.perf_counter()
    paths = run_named_study(args.name, progress=not args.no_progress, root=args.root)
    print(f"study {args.name}: {len(paths)} files written in {time.perf_counter() - start:.0f} s, under "
          f"{paths[0].parent if paths else args.root}")
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
        if args.command == "study":
            return run_study_command(args)
    except VaelibError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingDivergedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    return 0


__all__ = ["add_settings_options", "build_parser", "main", "run_compare", "run_study_command", "run_train",
           "settings_from_args"]
