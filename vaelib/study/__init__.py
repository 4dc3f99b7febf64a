"""The book's study: its claims, contestants, sanity checks, tables and the head-to-head run.

The top floor of vaelib: it uses the generic statistics (:mod:`vaelib.stats`) and claim
machinery (:mod:`vaelib.claims`), and nothing below it imports it (only the CLI and the
notebook helpers do; ``tests/test_study.py`` checks).

- :mod:`~vaelib.study.settings`: :class:`HeadToHeadSettings`, the one definition of a run's settings and defaults
- :mod:`~vaelib.study.claim_table`: :data:`CLAIMS`, the book's claims keyed by id; :func:`book_claims`, :func:`mention_claims`
- :mod:`~vaelib.study.contestants`: the five designs and :class:`ClaimRoles` (which models play each claim's roles)
- :mod:`~vaelib.study.sanity`: identities checked on every run
- :mod:`~vaelib.study.tables`: mean ± std summaries over seeds
- :mod:`~vaelib.study.runner`: :func:`run_head_to_head`, :class:`HeadToHead` and the records it adds
- :mod:`~vaelib.study.answer`: the answer at a glance, generated from the verdicts
- :mod:`~vaelib.study.history`: the verdicts of version 0.3.0 and what changed since
"""
from __future__ import annotations

from .answer import answer_at_a_glance, write_answer
from .claim_table import CLAIMS, BookClaim, book_claims, claim, mention_claims
from .contestants import ROLES, ClaimRoles, head_to_head_designs
from .history import VERDICTS_0_3_0, changes_since_0_3_0
from .factorial import CELLS, Cell, Tuned, cell, cell_config
from .records import STUDIES_DIR, provenance, read_study, write_study
from .runner import (HEAD_TO_HEAD_RECORD_DOCS, STUDY_NAME, HeadToHead, load_head_to_head, matched_epochs,
                     noise_only_mutual_information, run_head_to_head, run_study)
from .sanity import IWAE_MC_TOLERANCE, sanity_checks
from .settings import HeadToHeadSettings, as_option_text
from .tables import format_mean_std, summary_table

__all__ = ["BookClaim", "CLAIMS", "ClaimRoles", "HEAD_TO_HEAD_RECORD_DOCS", "HeadToHead", "HeadToHeadSettings",
           "IWAE_MC_TOLERANCE", "ROLES", "VERDICTS_0_3_0", "answer_at_a_glance", "as_option_text", "book_claims",
           "changes_since_0_3_0", "claim", "format_mean_std", "head_to_head_designs", "matched_epochs",
           "mention_claims", "noise_only_mutual_information", "run_head_to_head", "sanity_checks",
           "summary_table", "write_answer"]
