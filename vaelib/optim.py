"""Adam that takes the gradients as an argument and updates all parameters in one kernel call.

``torch.optim.Adam(fused=True)`` already runs one fused kernel, but around it every
``step()`` rebuilds its parameter lists in Python (state look-ups, grouping by device
and dtype), and the training loop must first clear and then fill ``.grad``. On the
book's 784-400-20 VAE that bookkeeping is a few percent of a training step on a 2-core
CPU (``benchmarks/throughput.py``). :class:`Adam` here builds its lists once and calls
the same fused kernel with the gradients handed over by ``torch.autograd.grad``, so the
update is bit-identical to ``torch.optim.Adam(params, lr, betas, eps, fused=True)``
(a test checks this). Where this torch has no fused kernel for the device, it falls
back to ``torch.optim.Adam``.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from .errors import VaelibError, check_positive


def fused_kernel_available(device: torch.device) -> bool:
    """True when this torch build has a fused Adam kernel for ``device`` (CPU and CUDA since torch 2.4)."""
    return hasattr(torch, "_fused_adam_") and device.type in ("cpu", "cuda")


class Adam:
    """Adam (Kingma & Ba, 2015) without weight decay, stepping with gradients passed in.

    ``step(grads)`` takes one gradient per parameter, in the order of ``params``.
    ``lr`` is the step size, ``betas`` the decay rates of the first and second moment
    estimates, ``eps`` the term added to the denominator.
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
        if self.fused:
            self.exp_avgs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
            self.exp_avg_sqs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
            # the kernel reads the step count from a float32 tensor per parameter; all parameters step
            # together, so one tensor serves them all and one increment replaces a loop over the list
            self.step_count = torch.zeros((), dtype=torch.float32, device=device)
        else:
            self._fallback = torch.optim.Adam(self.params, lr=lr, betas=betas, eps=eps)

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor]) -> None:
        """Update every parameter in place with its gradient in ``grads``."""
        if len(grads) != len(self.params):
            raise VaelibError(f"Adam.step got {len(grads)} gradients for {len(self.params)} parameters")
        if not self.fused:
            for p, g in zip(self.params, grads):
                p.grad = g
            self._fallback.step()
            return
        self.step_count.add_(1)
        torch._fused_adam_(
            self.params, list(grads), self.exp_avgs, self.exp_avg_sqs, [], [self.step_count] * len(self.params),
            lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], weight_decay=0.0, eps=self.eps,
            amsgrad=False, maximize=False,
        )


__all__ = ["Adam", "fused_kernel_available"]
