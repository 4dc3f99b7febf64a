"""Adam that takes the gradients as an argument and updates all parameters in one kernel call.

``torch.optim.Adam(fused=True)`` already runs one fused kernel, but around it every
``step()`` rebuilds its parameter lists in Python (state look-ups, grouping by device
and dtype), and the training loop must first fill ``.grad``. On the book's 784-400-20
VAE that bookkeeping costs about 0.35 ms a step, 1.2x the loop's own cost on the tiny
model of ``benchmarks/throughput.py`` (2-core Xeon, canonical numerics). :class:`Adam`
here builds its lists once and calls the same fused kernel (``torch._fused_adam_``, through
:mod:`vaelib.torch_private`) with the gradients handed over by ``torch.autograd.grad``,
so the update is bit-identical to ``torch.optim.Adam(params, lr, betas, eps, fused=True)``
(a test checks this). A torch without that private kernel gets ``torch.optim.Adam(fused=True)``
itself (the same bits); a device without a fused kernel, the unfused ``torch.optim.Adam``.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from . import torch_private
from .errors import VaelibError, check_positive


def fused_kernel_available(device: torch.device) -> bool:
    """True when torch has a fused Adam kernel for ``device``: the CPU and CUDA (since torch 2.4)."""
    return device.type in ("cpu", "cuda")


class Adam:
    """Adam (Kingma & Ba, 2015) without weight decay, stepping with gradients passed in.

    ``step(grads)`` takes one gradient per parameter, in the order of ``params``.
    ``lr`` is the step size, ``betas`` the decay rates of the first and second moment
    estimates, ``eps`` the term added to the denominator. ``fused`` says whether a fused
    kernel updates the parameters (all of them on one device that has one).
    """

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        self.params: list[torch.nn.Parameter] = list(params)
        if not self.params:
            raise VaelibError("Adam needs at least one parameter")
        check_positive("learning rate", lr)
        self.lr, self.betas, self.eps = float(lr), betas, float(eps)
        device = self.params[0].device
        self.fused = fused_kernel_available(device) and all(p.device == device for p in self.params)
        self._direct = self.fused and torch_private.available("_fused_adam_")
        if self._direct:
            self.exp_avgs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
            self.exp_avg_sqs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
            # the kernel reads the step count from a float32 tensor per parameter; all parameters step
            # together, so one tensor serves them all and one increment replaces a loop over the list
            self.step_count = torch.zeros((), dtype=torch.float32, device=device)
        else:
            self._torch_adam = torch.optim.Adam(self.params, lr=lr, betas=betas, eps=eps, fused=self.fused or None)

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor]) -> None:
        """Update every parameter in place with its gradient in ``grads``."""
        if len(grads) != len(self.params):
            raise VaelibError(f"Adam.step got {len(grads)} gradients for {len(self.params)} parameters")
        if not self._direct:
            for p, g in zip(self.params, grads):
                p.grad = g
            self._torch_adam.step()
            return
        self.step_count.add_(1)
        torch_private.fused_adam_(self.params, grads, self.exp_avgs, self.exp_avg_sqs,
                                  [self.step_count] * len(self.params), lr=self.lr, beta1=self.betas[0],
                                  beta2=self.betas[1], eps=self.eps)


__all__ = ["Adam", "fused_kernel_available"]
