"""The book's answer: a bottom line generated from the verdicts, and the figure that backs it.

:func:`bottom_line` answers the asker's follow-up in a few sentences, ranked by what matters to
them (does a generator need a random z; what a random z buys; which part of it buys it; what it
costs; scope). Every number comes from the verdicts (a difference with its 95 % interval per
latent dim), and which sentence a claim supports is chosen by its verdict: a flipped verdict
changes the sentence (``tests/test_answer.py`` builds records both ways). Notebook 5 shows it;
``python -m vaelib study head-to-head --answer`` writes it for the introduction. One source,
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
    """The sentence for ``result``'s :func:`kind` (keys confirmed / refuted / inconclusive / mixed; 'mixed' and
    'not tested' fall back to 'inconclusive')."""
    k = kind(result)
    return sentences.get(k) or sentences["inconclusive"]


def three_numbers(results: Mapping[str, ClaimResult | NotTested], family: str) -> str:
    """Sample quality of a family in three numbers and the blur statistic, a - b with 95 % intervals, and whether
    they agree: the text that every sample-quality sentence carries."""
    rows = {n: results[f"{family}.{n}"] for n in ("fid", "precision", "recall", "blur")}
    kinds = {kind(r) for n, r in rows.items() if n != "blur"}
    agree = "FID, precision and recall agree" if len(kinds) == 1 else "FID, precision and recall disagree"
    return (f"FID {effect(rows['fid'])}; precision {effect(rows['precision'])}; recall {effect(rows['recall'])}; "
            f"{agree}; pixel entropy (blur) {effect(rows['blur'])}")


def bottom_line(h2h: HeadToHead) -> str:
    """The bottom line as Markdown: a handful of sentences, each chosen by its claim's verdict and carrying the
    measured differences (a - b, with 95 % intervals over seeds) and a link to the verdicts."""
    r = h2h.results()
    s = h2h.settings
    lik2 = [k.split(".")[1] for k in r if k.startswith("L1.") and kind(r[k]) == "confirmed"]
    tie2 = [k.split(".")[1] for k in r if k.startswith("L1.") and kind(r[k]) in ("inconclusive", "mixed")]
    up2 = [k.split(".")[1] for k in r if k.startswith("L1.") and kind(r[k]) == "refuted"]
    likd = [k.split(".")[1] for k in r if k.startswith("L2.") and kind(r[k]) == "confirmed"]
    tied = [k.split(".")[1] for k in r if k.startswith("L2.") and kind(r[k]) in ("inconclusive", "mixed")]
    sentences = [
        _pick(r["G3.fid"],
              confirmed="**Does a generator need a random z? No.** A deterministic autoencoder, sampled from a "
                        "Gaussian mixture fitted to its codes after training, gives better samples than the VAE sampled "
                        "from its prior",
              refuted="**Does a generator need a random z? Here, yes.** The VAE sampled from its prior gives better "
                      "samples than a deterministic autoencoder with a Gaussian mixture fitted to its codes",
              inconclusive="**Does a generator need a random z? Not measurably.** A deterministic autoencoder with a "
                           "Gaussian mixture fitted to its codes and the VAE sampled from its prior are not told apart")
        + f" (AE + GMM minus VAE: {three_numbers(r, 'G3')}; {cite('G3')}). "
        + _pick(r["G1.fid"],
                confirmed="The asker's own proposal, deterministic codes matched to N(0, I) by MMD, also beats the "
                          "VAE's prior samples",
                refuted="The asker's own proposal, deterministic codes matched to N(0, I) by MMD, samples worse than "
                        "the VAE from the prior",
                inconclusive="The asker's own proposal, deterministic codes matched to N(0, I) by MMD, samples about "
                             "as well as the VAE from the prior")
        + f" (WAE-MMD minus VAE: FID {effect(r['G1.fid'])}; precision {effect(r['G1.precision'])}; recall "
          f"{effect(r['G1.recall'])}; {cite('G1')}).",
        _pick(r["R1.c2st"],
              confirmed="**What does a random z buy? It fills the latent space.** Under the same aggregate MMD, learned "
                        "encoder noise makes the codes harder to tell from N(0, I) than deterministic codes, above the "
                        "data's intrinsic dimension",
              refuted="**What does a random z buy? Not a fuller latent space.** Under the same aggregate MMD, "
                      "deterministic codes are the harder ones to tell from N(0, I) above the data's intrinsic dimension",
              inconclusive="**What does a random z buy? Not measurably a fuller latent space.** Under the same aggregate "
                           "MMD, learned noise does not change how easily the codes are told from N(0, I) above the "
                           "data's intrinsic dimension")
        + f" (classifier two-sample accuracy, learned sigma minus none: {effect(r['R1.c2st'])}; by MMD "
          f"{effect(r['R1.mmd'])}; {cite('R1')}). "
        + _pick(r["R2"],
                confirmed="Noise also smooths the decoder",
                refuted="Noise does not smooth the decoder: it roughens it",
                inconclusive="Whether noise smooths the decoder is not resolved")
        + f" (scaled Jacobian norm, fixed noise minus none, no penalty on either: {effect(r['R2'])}; {cite('R2')}).",
        _pick(r["S1.fid"],
              confirmed="**Which part buys it?** Learning sigma(x) matters: under the same per-sample KL, the VAE's "
                        "prior samples beat the best fixed sigma0's",
              refuted="**Which part buys it?** Not the learned sigma(x): under the same per-sample KL, the best fixed "
                      "sigma0 gives better prior samples than the VAE",
              inconclusive="**Which part buys it?** Learned and fixed noise sample alike under the same per-sample KL")
        + f" (VAE minus fixed sigma0: {three_numbers(r, 'S1')}; {cite('S1')}); "
        + _pick(r["S3"],
                confirmed="and without a per-sample KL the learned noise does not survive: under aggregate MMD alone "
                          "sigma(x) shrinks",
                refuted="and under aggregate MMD alone sigma(x) stays wider than the VAE's",
                inconclusive="and under aggregate MMD alone sigma(x) ends up about as wide as the VAE's")
        + f" (mean posterior sd, MMD minus KL: {effect(r['S3'])}; {cite('S3')}).",
        "**What does it cost?** In likelihood, at latent dim 2, where log p(x) is exact: "
        + (f"{', '.join(lik2)} score below the VAE; " if lik2 else "no design scores below the VAE; ")
        + (f"{', '.join(tie2)} are not told apart from it" if tie2 else "none ties with it")
        + (f"; {', '.join(up2)} score above it" if up2 else "")
        + f" ({cite('L1')}). Above latent dim 2 (AIS estimates): "
        + (f"{', '.join(likd)} below the VAE; " if likd else "no design below the VAE; ")
        + (f"{', '.join(tied)} not told apart" if tied else "none ties") + f" ({cite('L2')}).",
        f"**Scope.** `{s.dataset}` ({h2h.n_train:,} training images, one split), MLP encoders and decoders, {s.epochs} "
        f"epochs, latent dims {', '.join(map(str, s.latent_dims))}, every setting tuned on a validation split at "
        f"each latent dim (seed {s.seeds[0]}), {len(s.seeds)} training seeds, one feature classifier for FID, "
        f"precision and recall; intervals and p-values over training seeds only, Holm-corrected across latent dims, "
        f"not across claims. Notebook 6 tests the answer at a converged budget and with another architecture.",
    ]
    return "\n".join(f"* {t}" for t in sentences) + "\n"


def write_bottom_line(h2h: HeadToHead, path: str | Path) -> Path:
    """Write :func:`bottom_line` to ``path`` (atomically); returns the path."""
    from .. import store

    return store.write_bytes(Path(path), bottom_line(h2h).encode())


__all__ = ["VERDICTS_LINK", "bottom_line", "cite", "effect", "kind", "three_numbers", "write_bottom_line"]
