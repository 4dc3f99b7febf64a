"""The model's batched encodings (AutoEncoder.encode_means, encode_batched, sample_codes) and its device."""
from __future__ import annotations

import pytest
import torch

from vaelib import AutoEncoder
from vaelib.errors import VaelibError

HEADS = ("deterministic", "fixed-variance", "gaussian")


def _model(head: str) -> AutoEncoder:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return AutoEncoder(data_dim=6, latent_dim=3, hidden_dims=(8,), head=head).eval()


def _x(n: int = 25) -> torch.Tensor:
    return torch.rand(n, 6, generator=torch.Generator().manual_seed(1))


def test_device_is_where_the_parameters_are():
    model = _model("gaussian")
    assert model.device == torch.device("cpu") == next(model.parameters()).device


@pytest.mark.parametrize("head", HEADS)
def test_batched_encodings_are_the_batch_by_batch_loop_bit_for_bit(head):
    model, x = _model(head), _x()
    with torch.no_grad():
        encodings = [model.encode(xb) for xb in x.split(10)]
    means = model.encode_means(x, batch_size=10)
    assert torch.equal(means, torch.cat([e.mean for e in encodings])) and not means.requires_grad
    batched = model.encode_batched(x, batch_size=10)
    assert torch.equal(batched.mean, means)
    if head == "deterministic":
        assert batched.logvar is None
    else:
        assert batched.logvar.shape == means.shape
        assert torch.equal(batched.logvar, torch.cat([e.logvar.expand_as(e.mean) for e in encodings]))


@pytest.mark.parametrize("head", HEADS)
def test_sample_codes_draw_batch_by_batch_from_one_seeded_generator(head):
    model, x = _model(head), _x()
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():
        expected = torch.cat([model.sample_z(model.encode(xb), gen) for xb in x.split(10)])
    codes = model.sample_codes(x, seed=4, batch_size=10)
    assert torch.equal(codes, expected)
    assert torch.equal(codes, model.sample_codes(x, seed=4, batch_size=10))
    if head == "deterministic":
        assert torch.equal(codes, model.encode_means(x))
    else:
        assert not torch.equal(codes, model.sample_codes(x, seed=5, batch_size=10))


def test_batched_encoding_rejects_the_wrong_shape():
    with pytest.raises(VaelibError, match=r"\(batch, 6\)"):
        _model("gaussian").encode_batched(torch.zeros(4, 5))
