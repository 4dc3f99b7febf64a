"""The book's answer at a glance: the introduction's summary, generated from the head-to-head's verdicts.

Notebook 5 shows :func:`answer_at_a_glance`; ``scripts/execute_notebooks.sh`` writes the same
text to ``book/_generated/answer_at_a_glance.md`` (through ``python -m vaelib compare --answer``),
which the introduction includes. One source, so the two cannot drift apart.
"""
from __future__ import annotations

from pathlib import Path

from ..claims import ClaimResult
from .runner import HeadToHead


def answer_at_a_glance(h2h: HeadToHead) -> str:
    """The answer at a glance as Markdown: every claim's outcome in words, with both means and its verdict."""
    results = h2h.results()
    settings = h2h.settings
    dims = list(settings.latent_dims)

    def say(key: str, lower: str, higher: str) -> str:
        """The outcome of claim ``key`` per latent dim (or data size), in words, with both means."""
        r = results[key]
        return r.outcome_text(lower, higher) if isinstance(r, ClaimResult) else r.measured

    def verdict(key: str) -> str:
        return results[key].verdict

    return f"""
Measured on `{settings.dataset}` with {len(settings.seeds)} seeds at latent dimensions {dims} ({settings.epochs} epochs each;
hyperparameters chosen on a validation split; differences by Welch's t-test with Holm's correction;
each verdict is a row of the table in notebook 5):

* **Does the asker's proposal work as a generator?** Prior-sample FID of WAE-MMD against the VAE:
  {say('2c', 'better', 'worse')} (claim 2c: *{verdict('2c')}*). Decoding N(0, I) through a plain AE's
  decoder fails, and a GMM fitted to its codes repairs it: {say('1', 'better', 'worse')} (GMM vs prior FID,
  claim 1: *{verdict('1')}*).
* **Does it match the prior better than the VAE?** How well a classifier tells the codes from
  N(0, I) samples (accuracy; 0.5 = indistinguishable), WAE-MMD against the VAE:
  {say('2b', 'closer', 'farther')} (claim 2b: *{verdict('2b')}*). Above the data's intrinsic dimension
  (TwoNN estimate {h2h.data_intrinsic_dim:.1f}), the deterministic codes were predicted to be the easier to
  tell apart; VAE against WAE-MMD: {say('3', 'closer', 'farther')} (claim 3: *{verdict('3')}*).
* **What does sampling z buy?** With $\\beta$ and $\\sigma_0$ both tuned on validation, a learned $\\sigma(x)$
  against a fixed $\\sigma_0$ for prior samples: {say('4', 'better', 'worse')} (claim 4: *{verdict('4')}*).
  A smoother decoder than a plain AE's, per standard deviation of the codes: {say('5', 'smoother', 'rougher')}
  (claim 5: *{verdict('5')}*). A better ELBO than the best fixed $\\sigma_0$: mean-only {say('8b', 'lower', 'higher')}
  (claim 8b: *{verdict('8b')}*). A smaller test-minus-train reconstruction gap than an AE trained to the
  same training reconstruction (training reconstruction, AE vs VAE:
  {", ".join(f"{h2h.mean('ae-matched', 'train_bce_nats', d):.1f} vs {h2h.mean('vae', 'train_bce_nats', d):.1f} at d={d}" for d in dims)} nats/image):
  {say('8c', 'smaller', 'larger')} (claim 8c: *{verdict('8c')}*). And the KL
  term pays for more than information: the upper bound on I(x; z) against the rate,
  {say('2a', 'lower', 'higher')} nats (claim 2a: *{verdict('2a')}*).
* **Ex-post density estimation** helps the VAE too, at every training-set size? GMM against prior
  FID: {say('7', 'better', 'worse')} (claim 7: *{verdict('7')}*).
"""


def write_answer(h2h: HeadToHead, path: str | Path) -> Path:
    """Write :func:`answer_at_a_glance` (stripped, one final newline) to ``path``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(answer_at_a_glance(h2h).strip() + "\n")
    return path


__all__ = ["answer_at_a_glance", "write_answer"]
