"""The book's study: the factorial of designs, its claims, the head-to-head run, its records and its answer.

The top floor of vaelib: it uses the generic statistics (:mod:`vaelib.stats`) and claim
machinery (:mod:`vaelib.claims`), and nothing below it imports it (only the CLI and the
notebook helpers do; ``tests/test_study.py`` checks).

- :mod:`~vaelib.study.factorial`: :data:`CELLS`, encoder noise crossed with the regulariser; :class:`Tuned`
- :mod:`~vaelib.study.settings`: :class:`HeadToHeadSettings`, the one definition of a run's settings and defaults
- :mod:`~vaelib.study.claim_table`: :data:`CLAIMS`, the book's claims keyed by id; :func:`book_claims`, :func:`mention_claims`
- :mod:`~vaelib.study.runner`: :func:`run_head_to_head`, :class:`HeadToHead`, :func:`load_head_to_head`, :func:`run_study`
- :mod:`~vaelib.study.records`: a study's committed records and their provenance
- :mod:`~vaelib.study.sanity`: identities checked on every run
- :mod:`~vaelib.study.tables`: mean ± std summaries over seeds
- :mod:`~vaelib.study.answer`: the bottom line and the answer figure, generated from the verdicts
- :mod:`~vaelib.study.robustness`: the verdicts side by side across studies (does the answer hold?)
- :mod:`~vaelib.study.studies`: the studies ``python -m vaelib study NAME`` runs (budget, generality)
- :mod:`~vaelib.study.numerics_runs`: the head-to-head under canonical and native numerics (its committed record)
"""
from __future__ import annotations

from .answer import ANSWER_ALT, answer_figure, bottom_line, verdict_markdown, write_answer_figure, write_bottom_line
from .claim_table import CLAIMS, QUESTIONS, BookClaim, book_claims, claim, claim_families, claim_family, mention_claims
from .factorial import CELLS, Cell, Tuned, cell, cell_config
from .records import STUDIES_DIR, provenance, read_study, write_study
from .robustness import (KEY_CLAIMS, OTHER_STUDIES, load_other_studies, matched_changes, restricted, robustness_line,
                         verdict_changes, verdict_comparison, write_robustness_line)
from .runner import (HEAD_TO_HEAD_RECORD_DOCS, STUDY_NAME, HeadToHead, load_head_to_head, matched_epochs,
                     noise_only_mutual_information, run_head_to_head, run_study, weights_digest)
from .sanity import IWAE_MC_TOLERANCE, sanity_checks
from .settings import HeadToHeadSettings, as_option_text
from .tables import format_mean_std, summary_table

__all__ = [
    "KEY_CLAIMS", "OTHER_STUDIES", "load_other_studies", "robustness_line", "write_robustness_line",
    "matched_changes", "restricted", "verdict_changes",
    "verdict_comparison",
    "ANSWER_ALT",
    "BookClaim",
    "CELLS",
    "CLAIMS",
    "Cell",
    "HEAD_TO_HEAD_RECORD_DOCS",
    "HeadToHead",
    "HeadToHeadSettings",
    "IWAE_MC_TOLERANCE",
    "QUESTIONS",
    "STUDIES_DIR",
    "STUDY_NAME",
    "Tuned",
    "answer_figure",
    "as_option_text",
    "book_claims",
    "bottom_line",
    "cell",
    "cell_config",
    "claim",
    "claim_families",
    "claim_family",
    "format_mean_std",
    "load_head_to_head",
    "matched_epochs",
    "mention_claims",
    "noise_only_mutual_information",
    "provenance",
    "read_study",
    "run_head_to_head",
    "run_study",
    "sanity_checks",
    "summary_table",
    "verdict_markdown",
    "weights_digest",
    "write_answer_figure",
    "write_bottom_line",
    "write_study",
]
