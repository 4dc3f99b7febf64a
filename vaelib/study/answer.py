"""The book's answer: a bottom line generated from the verdicts, and the figure that backs it.

:func:`bottom_line` answers the asker's follow-up in a few sentences, ranked by what matters to
them (does a generator need a random z; what a random z buys; which part of it buys it; what it
costs; scope). Every number comes from the verdicts (a difference with its 95 % interval per
latent dim), and which sentence a claim supports is chosen by its verdict: a flipped verdict
changes the sentence (``tests/test_answer.py`` builds records both ways). Notebook 5 shows it;
``scripts/execute_notebooks.sh`` writes it (:func:`write_bottom_line`) and the answer figure
(:func:`write_answer_figure`) for the introduction. One source,
so the two cannot drift apart.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..claims import ClaimResult, NotTested
from .runner import HeadToHead

#: Where prose links a claim to: the verdict table of notebook 5 (relative to book/ and to notebooks/).
VERDICTS_LINK = "../notebooks/05_head_to_head.ipynb#the-verdicts"


def kind(result: ClaimResult | NotTested) -> str:
    """The verdict's kind: 'confirmed' or 'refuted' (at every condition or at some, the rest inconclusive),
    'inconclusive', 'mixed' (significant both ways) or 'not tested'."""
    if isinstance(result, NotTested):
        return "not tested"
    v = result.verdict
    if v.startswith("confirmed"):
        return "confirmed"
    if v.startswith("refuted"):
        return "refuted"
    return "inconclusive" if v == "inconclusive" else "mixed"


def effect(result: ClaimResult | NotTested, digits: int | None = None) -> str:
    """The measured difference a - b per condition with its 95 % interval and the verdict, e.g.
    ``-12.3 [-15.1, -9.5] at d=2, -3.1 [-6.0, -0.2] at d=8 (confirmed)``; or why it was not tested."""
    if isinstance(result, NotTested):
        return result.measured
    digits = result.digits if digits is None else digits
    parts = [f"{c.difference:+.{digits}f} [{c.ci_low:+.{digits}f}, {c.ci_high:+.{digits}f}] at {result.condition}={k}"
             for k, c in zip(result.conditions, result.comparisons)]
    return f"{', '.join(parts)} (*{result.verdict}*)"


def cite(*keys: str) -> str:
    """A Markdown link to the verdict table for claims ``keys``, e.g. ``[claim G3](...)``."""
    label = f"claim {keys[0]}" if len(keys) == 1 else "claims " + ", ".join(keys)
    return f"[{label}]({VERDICTS_LINK})"


def _pick(result: ClaimResult | NotTested, **sentences: str) -> str:
    """The sentence for ``result``'s :func:`kind` (keys confirmed / refuted / inconclusive / mixed; a missing
    'mixed' and 'not tested' fall back to 'inconclusive')."""
    k = kind(result)
    return sentences.get(k) or sentences["inconclusive"]


def where(result: ClaimResult | NotTested, good: str, bad: str) -> str:
    """The outcome per condition in words, grouped: e.g. ``better at d=2, 8; worse at d=32``, where ``good`` is the
    direction the claim expects and ``bad`` the opposite; ``no significant difference`` for the rest."""
    if isinstance(result, NotTested):
        return result.measured
    words = {result.expected: good, ("higher" if result.expected == "lower" else "lower"): bad,
             "same": "no significant difference"}
    groups: dict[str, list[str]] = {}
    for k, o in zip(result.conditions, result.outcomes):
        groups.setdefault(words[o], []).append(str(k))
    return "; ".join(f"{w} at {result.condition}={', '.join(ks)}" for w, ks in groups.items())


def three_numbers(results: Mapping[str, ClaimResult | NotTested], family: str) -> str:
    """Sample quality of a family: FID a - b with its 95 % intervals, then precision and recall (where each is
    better or worse) and whether the three agree, and the blur statistic's verdict."""
    rows = {n: results[f"{family}.{n}"] for n in ("fid", "precision", "recall", "blur")}
    kinds = {kind(r) for n, r in rows.items() if n != "blur"}
    agree = "the three agree" if len(kinds) == 1 else "the three disagree"
    return (f"FID {effect(rows['fid'])}; precision {where(rows['precision'], 'better', 'worse')}; recall "
            f"{where(rows['recall'], 'better', 'worse')}: {agree}; blur (pixel entropy) "
            f"{where(rows['blur'], 'lower', 'higher')}")


def _designs(results: Mapping[str, ClaimResult | NotTested], prefix: str, kinds: set[str]) -> list[str]:
    return [k.split(".", 1)[1] for k, r in results.items() if k.startswith(prefix + ".") and kind(r) in kinds]


def bottom_line(h2h: HeadToHead) -> str:
    """The bottom line as Markdown: a handful of sentences, each chosen by its claim's verdict and carrying the
    measured differences (a - b, with 95 % intervals over seeds) and a link to the verdicts."""
    r = h2h.results()
    s = h2h.settings

    def listed(names: list[str], text: str) -> str:
        return f"{', '.join(names)} {text}" if names else ""

    likelihood = []
    for prefix, scope in (("L1", "at latent dim 2, where log p(x) is exact"), ("L2", "above it (AIS estimates)")):
        parts = [listed(_designs(r, prefix, {"confirmed"}), "below the VAE"),
                 listed(_designs(r, prefix, {"refuted"}), "above it"),
                 listed(_designs(r, prefix, {"inconclusive", "mixed", "not tested"}), "not told apart or mixed")]
        likelihood.append(f"{scope}: {'; '.join(p for p in parts if p)} ({cite(prefix)})")
    sentences = [
        _pick(r["G3.fid"],
              confirmed="**Does a generator need a random z? No.** A deterministic autoencoder, sampled from a "
                        "Gaussian mixture fitted to its codes after training, gives better samples than the VAE sampled "
                        "from its prior",
              refuted="**Does a generator need a random z? Here, yes.** The VAE sampled from its prior gives better "
                      "samples than a deterministic autoencoder with a Gaussian mixture fitted to its codes",
              mixed="**Does a generator need a random z? It depends on the latent dim.** A deterministic autoencoder "
                    "with a Gaussian mixture fitted to its codes against the VAE sampled from its prior: "
                    + where(r["G3.fid"], "better", "worse"),
              inconclusive="**Does a generator need a random z? Not measurably.** A deterministic autoencoder with a "
                           "Gaussian mixture fitted to its codes and the VAE sampled from its prior are not told apart")
        + f" (AE + GMM minus VAE: {three_numbers(r, 'G3')}; {cite('G3')}).",
        "**Does the asker's own proposal work?** Deterministic codes matched to N(0, I) by MMD (WAE-MMD) against the "
        f"VAE, both sampled from the prior: FID {where(r['G1.fid'], 'better', 'worse')} ({effect(r['G1.fid'])}); "
        f"precision {where(r['G1.precision'], 'better', 'worse')}; recall {where(r['G1.recall'], 'better', 'worse')} "
        f"({cite('G1')}).",
        _pick(r["R1.c2st"],
              confirmed="**What does a random z buy? A fuller latent space.** Under the same aggregate MMD, learned "
                        "encoder noise makes the codes harder to tell from N(0, I) than deterministic codes, above the "
                        "data's intrinsic dimension",
              refuted="**What does a random z buy? Not a fuller latent space.** Under the same aggregate MMD, "
                      "deterministic codes are the harder ones to tell from N(0, I) above the data's intrinsic dimension",
              mixed="**What does a random z buy? It depends on the latent dim.** Under the same aggregate MMD, learned "
                    "noise against none, how hard the codes are to tell from N(0, I): "
                    + where(r["R1.c2st"], "harder", "easier"),
              inconclusive="**What does a random z buy? Not measurably a fuller latent space.** Under the same aggregate "
                           "MMD, learned noise does not change how easily the codes are told from N(0, I) above the "
                           "data's intrinsic dimension")
        + f" (two-sample classifier accuracy, learned minus none: {effect(r['R1.c2st'])}; {cite('R1')}). "
        + _pick(r["R2"],
                confirmed="Noise does smooth the decoder",
                refuted="Noise roughens the decoder rather than smoothing it",
                mixed="Whether noise smooths the decoder depends on the latent dim",
                inconclusive="That noise smooths the decoder is not shown")
        + f" (scaled Jacobian norm, fixed noise minus none, no penalty on either: {effect(r['R2'])}; {cite('R2')}).",
        _pick(r["S1.fid"],
              confirmed="**Which part of it matters?** Learning sigma(x): under the same per-sample KL, the VAE's "
                        "prior samples beat the best fixed sigma0's",
              refuted="**Which part of it matters?** Not the learned sigma(x): under the same per-sample KL, the best "
                      "fixed sigma0 gives better prior samples than the VAE by FID",
              mixed="**Which part of it matters?** Learned against fixed noise under the same per-sample KL, by FID: "
                    + where(r["S1.fid"], "learned better", "fixed better"),
              inconclusive="**Which part of it matters?** Learned and fixed noise sample alike under the same "
                           "per-sample KL")
        + f" (VAE minus fixed sigma0: {three_numbers(r, 'S1')}; {cite('S1')}). "
        + _pick(r["S3"],
                confirmed="Without a per-sample KL the learned noise does not survive: under aggregate MMD alone "
                          "sigma(x) shrinks",
                refuted="Under aggregate MMD alone sigma(x) stays wider than the VAE's",
                mixed="Under aggregate MMD alone, sigma(x) against the VAE's: " + where(r["S3"], "narrower", "wider"),
                inconclusive="Under aggregate MMD alone sigma(x) ends up about as wide as the VAE's")
        + f" (mean posterior sd, MMD minus KL: {effect(r['S3'])}; {cite('S3')}).",
        "**What does training without a likelihood bound cost in likelihood?** Each design's log p(x) against the "
        "VAE's, " + "; ".join(likelihood) + ".",
        f"**Scope.** `{s.dataset}` ({h2h.n_train:,} training images, one split), MLP encoders and decoders, {s.epochs} "
        f"epochs, latent dims {', '.join(map(str, s.latent_dims))}, every setting tuned on a validation split at "
        f"each latent dim (seed {s.seeds[0]}), {len(s.seeds)} training seeds, one feature classifier for FID, "
        f"precision and recall; intervals and p-values over training seeds only, Holm-corrected across latent dims, "
        f"not across claims. Notebook 6 tests the answer at a converged budget and with another architecture.",
    ]
    return "\n".join(f"* {t}" for t in sentences) + "\n"


def verdict_markdown(h2h: HeadToHead) -> str:
    """Every claim family of the run as Markdown, grouped by question: the claim, what its contrast changes, what
    the literature reports, and each row's verdict (with the measured means for single-row claims)."""
    from .claim_table import CLAIMS, QUESTIONS, claim_families, claim_family

    results = h2h.results()
    lines = []
    for letter, question in QUESTIONS.items():
        lines.append(f"**{question}**\n")
        for family in [f for f in claim_families() if f.startswith(letter)]:
            rows = claim_family(family)
            first = CLAIMS[rows[0]]
            text = first.claim.split(" (FID;")[0] if len(rows) > 1 and rows[0].endswith(".fid") else first.claim
            if len(rows) == 1:
                verdict = f"*{results[family].verdict}*"
            else:
                verdict = "; ".join(f"{k.split('.', 1)[1]} *{results[k].verdict}*" for k in rows)
            lines.append(f"* **{family}** {text}. *Changes:* {first.changes}. *Literature:* {first.literature}. "
                         f"*Verdict:* {verdict}.")
        lines.append("")
    return "\n".join(lines)


#: The answer figure's metrics and axis labels (units in brackets).
ANSWER_METRICS: dict[str, str] = {
    "prior/fid": "prior-sample FID [classifier features]",
    "prior/precision": "prior-sample precision [fraction]",
    "agg_c2st_accuracy": "codes vs N(0, I): C2ST accuracy [fraction]",
}

#: The answer figure's alt text.
ANSWER_ALT = ("Nine panels: for latent dims 2, 8 and 32 (rows), the prior-sample FID, the prior-sample precision and the "
              "accuracy of a classifier telling codes from N(0, I) (columns), plotted against the regulariser on the "
              "codes (none, per-sample, aggregate), one line per encoder noise level (none, fixed, learned), with "
              "95 % intervals over seeds.")


def answer_figure(h2h: HeadToHead):
    """The figure that backs the bottom line: the 3 x 3 factorial (:func:`vaelib.plotting.plot_factorial`) of
    :data:`ANSWER_METRICS` at every latent dim; a matplotlib Figure (alt text :data:`ANSWER_ALT`)."""
    from ..plotting import plot_factorial
    from .factorial import CELLS

    cells = {label: (c.noise, c.column) for label, c in CELLS.items() if c.column is not None}
    return plot_factorial(h2h.frame, cells, ANSWER_METRICS, h2h.dims)


def write_answer_figure(h2h: HeadToHead, path: str | Path) -> Path:
    """Draw :func:`answer_figure` in the book's style and save it as a PNG at ``path``; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plotting import use_book_style

    use_book_style()
    fig = answer_figure(h2h)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_bottom_line(h2h: HeadToHead, path: str | Path) -> Path:
    """Write :func:`bottom_line` to ``path`` (atomically); returns the path."""
    from .. import store

    return store.write_bytes(Path(path), bottom_line(h2h).encode())


__all__ = [
    "ANSWER_ALT",
    "ANSWER_METRICS",
    "VERDICTS_LINK",
    "answer_figure",
    "bottom_line",
    "cite",
    "effect",
    "kind",
    "three_numbers",
    "verdict_markdown",
    "where",
    "write_answer_figure",
    "write_bottom_line",
]
