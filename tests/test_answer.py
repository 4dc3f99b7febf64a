"""The bottom line: each sentence is chosen by its claim's verdict and carries the measured numbers."""
import re

import pandas as pd
import pytest

from vaelib import study
from vaelib.study import HeadToHead, HeadToHeadSettings, Tuned

LOW, HIGH = [10.0, 11.0, 9.0, 10.5, 9.5], [40.0, 42.0, 38.0, 41.0, 39.0]
NOISE_A, NOISE_B = [20.0, 40.0, 30.0, 35.0, 25.0], [30.0, 20.0, 40.0, 25.0, 35.0]


def _h2h(ae_gmm_fid: list[float], vae_prior_fid: list[float]) -> HeadToHead:
    """Records of an AE and a VAE at latent dims 2, 8 and 32 over five seeds: the AE's GMM-sample FID and the VAE's
    prior-sample FID as given; precision, recall and blur equal on both sides."""
    rows = []
    for d in (2, 8, 32):
        for seed in range(5):
            common = {"latent_dim": d, "seed": seed, "prior/precision": 0.5 + 0.01 * seed,
                      "gmm/precision": 0.5 + 0.01 * seed, "prior/recall": 0.4 + 0.01 * seed,
                      "gmm/recall": 0.4 + 0.01 * seed, "prior/pixel_entropy_nats": 0.2 + 0.001 * seed,
                      "gmm/pixel_entropy_nats": 0.2 + 0.001 * seed}
            rows.append({"design": "ae", "gmm/fid": ae_gmm_fid[seed], "prior/fid": 99.0, **common})
            rows.append({"design": "vae", "prior/fid": vae_prior_fid[seed], "gmm/fid": 99.0, **common})
    tuned = {d: Tuned(beta=1.0, mmd=100.0, sw=100.0, sigma0=0.3) for d in (2, 8, 32)}
    return HeadToHead(rows, {}, pd.DataFrame(), tuned, 10.0, [], 4000, HeadToHeadSettings())


@pytest.mark.parametrize("ae_fid, vae_fid, opening", [
    (LOW, HIGH, "**Does a generator need a random z? No.**"),
    (HIGH, LOW, "**Does a generator need a random z? Here, yes.**"),
    (NOISE_A, NOISE_B, "**Does a generator need a random z? Not measurably.**"),
])
def test_a_flipped_verdict_changes_the_sentence_and_the_numbers_come_from_the_records(ae_fid, vae_fid, opening):
    text = study.bottom_line(_h2h(ae_fid, vae_fid))
    assert text.startswith("* " + opening)
    first = text.splitlines()[0]
    difference = sum(ae_fid) / 5 - sum(vae_fid) / 5
    assert f"{difference:+.2f} [" in first, "the FID difference a - b, with its interval, at every latent dim"
    assert first.count(" at d=") >= 3 and "[claim G3](" in first
    # precision and recall are equal on both sides: inconclusive, so they agree with FID only when FID is too
    agree = opening.endswith("Not measurably.**")
    assert ("the three agree" if agree else "the three disagree") in first
    # claims whose records are missing say so instead of inventing a sentence
    assert "not tested" in text
    assert re.search(r"\*\*Scope\.\*\* `mnist5k` \(4,000 training images", text)


def test_the_bottom_line_links_every_claim_it_rests_on_to_the_verdict_table():
    text = study.bottom_line(_h2h(LOW, HIGH))
    links = re.findall(r"\[claims? ([\w., ]+)\]\(([^)]+)\)", text)
    assert {target for _, target in links} == {study.answer.VERDICTS_LINK}
    for label, _ in links:
        for key in label.split(", "):
            study.claim_family(key)   # raises for an id that is not in the claim table


def _with_seeds(h2h: HeadToHead, dims: tuple[int, ...], seeds: tuple[int, ...]) -> HeadToHead:
    """``h2h``'s records at ``dims`` and ``seeds``, as a study of its own would hold them."""
    import dataclasses

    settings = dataclasses.replace(h2h.settings, latent_dims=dims, seeds=seeds)
    rows = [r for r in h2h.records if r["latent_dim"] in dims and r["seed"] in seeds]
    return dataclasses.replace(h2h, records=rows, settings=settings)


def test_a_smaller_study_is_compared_with_the_reference_at_its_own_dims_and_seeds():
    """The same records at fewer dims and seeds hold every verdict they can test; a study whose AE and VAE swap sides
    flips G3.fid, and the robustness line names it; a study without the records of a claim leaves it not tested."""
    reference = _h2h(LOW, HIGH)
    same = _with_seeds(reference, (8, 32), (0, 1, 2))
    assert study.restricted(reference, (8, 32), (0, 1, 2)).records == same.records
    flipped = _with_seeds(_h2h(HIGH, LOW), (8, 32), (0, 1, 2))
    moves = study.matched_changes(reference, {"same": same, "flipped": flipped})
    assert moves.loc["same", "flipped"] == 0 and moves.loc["same", "held"] > 0 and moves.loc["same", "moved"] == ""
    assert moves.loc["flipped", "flipped"] >= 1 and "G3.fid flipped" in moves.loc["flipped", "moved"]
    assert moves.loc["same", "not tested"] == moves.loc["flipped", "not tested"] > 0
    line = study.robustness_line(reference, {"converged": same, "conv": flipped})
    assert line.startswith("* **Does it hold?**") and "(G3.fid flipped)" in line
    assert "every key verdict it tests among them" in line.split(";")[0]
    with pytest.raises(ValueError, match="no latent dim or seed in common"):
        study.restricted(reference, (4,), (0,))
