"""vaelib.optim.Adam: the same update as torch.optim.Adam (fused kernel or fallback), bit for bit; clear errors."""
import pytest
import torch

from vaelib import optim, torch_private
from vaelib.errors import VaelibError


def _params(seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(*shape, generator=g)) for shape in [(7, 5), (5,), (3, 7)]]


def _grads(step, params):
    g = torch.Generator().manual_seed(100 + step)
    return [torch.randn(p.shape, generator=g) * 10 ** (step % 3 - 1) for p in params]


@pytest.mark.parametrize("fused, private_kernel", [(True, True), (True, False), (False, False)])
def test_matches_torch_fused_adam_bit_for_bit(fused, private_kernel, monkeypatch):
    if not private_kernel:  # a torch without torch._fused_adam_: torch.optim.Adam(fused=True) steps instead
        monkeypatch.setattr(torch_private, "available", lambda name: False)
    if not fused:  # the fallback used where this torch has no fused kernel for the device
        monkeypatch.setattr(optim, "fused_kernel_available", lambda device: False)
    ours_params, ref_params = _params(0), _params(0)
    ours = optim.Adam(ours_params, lr=3e-3, betas=(0.8, 0.99), eps=1e-6)
    assert ours.fused is fused
    # the fallback is torch.optim.Adam itself, without the fused kernel
    ref = torch.optim.Adam(ref_params, lr=3e-3, betas=(0.8, 0.99), eps=1e-6, fused=fused)
    for step in range(12):
        grads = _grads(step, ours_params)
        ours.step(grads)
        for p, g in zip(ref_params, grads):
            p.grad = g.clone()
        ref.step()
    for a, b in zip(ours_params, ref_params):
        assert torch.equal(a, b)
    assert not torch.equal(ours_params[0], _params(0)[0])  # the parameters did move


def test_wrong_number_of_gradients_and_bad_settings_are_refused():
    params = _params(1)
    adam = optim.Adam(params)
    with pytest.raises(VaelibError, match="2 gradients for 3 parameters"):
        adam.step(_grads(0, params)[:2])
    with pytest.raises(VaelibError, match="learning rate must be > 0"):
        optim.Adam(params, lr=0.0)
    with pytest.raises(VaelibError, match="at least one parameter"):
        optim.Adam([])
