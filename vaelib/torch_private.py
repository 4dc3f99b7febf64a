"""The private torch APIs vaelib uses: here and nowhere else, each with the reason and a fallback.

torch may rename or remove a private function in any release without notice. Every one that
vaelib calls is listed in :data:`PRIVATE_APIS`, reached only through this module, and checked
by ``tests/test_torch_private.py``, which fails naming the API and the torch version when an
upgrade removes one. Until it is mended, vaelib falls back to the public API named there
(slower, the same bits).
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import torch

from .errors import VaelibError

#: name in the ``torch`` namespace -> why vaelib calls it, and the public fallback used without it.
PRIVATE_APIS: dict[str, str] = {
    "_fused_adam_": "the fused Adam kernel, called directly by vaelib.optim.Adam: torch.optim.Adam(fused=True) "
                    "runs the same kernel (same bits) with more Python per step (1.2x the loop's own cost in "
                    "benchmarks/throughput.py's own-cost section); fallback: torch.optim.Adam(fused=True)",
    "_C._set_deterministic_algorithms": "the deterministic-algorithms flag that torch.use_deterministic_algorithms "
                                        "sets, without that function's import of torch._inductor.config (for "
                                        "torch.compile, which vaelib does not use): 1.2 s at every start of a "
                                        "process that imports vaelib (each notebook kernel, each train_many "
                                        "worker); fallback: torch.use_deterministic_algorithms",
}


def _lookup(name: str) -> object | None:
    """``torch.<name>`` for a dotted ``name`` (e.g. ``_C._set_deterministic_algorithms``), or None when absent."""
    target: object | None = torch
    for part in name.split("."):
        target = getattr(target, part, None)
    return target


def available(name: str) -> bool:
    """True when this torch has the private API ``name`` (a key of :data:`PRIVATE_APIS`)."""
    return callable(_lookup(name))


def require(name: str) -> Callable[..., object]:
    """The private API ``torch.<name>``; raises VaelibError naming it and the torch version when it is gone."""
    if name not in PRIVATE_APIS:
        raise VaelibError(f"torch.{name} is not one of the private APIs vaelib may use ({', '.join(PRIVATE_APIS)}); "
                          f"add it to vaelib.torch_private.PRIVATE_APIS with its reason and fallback")
    if not available(name):
        raise VaelibError(f"torch {torch.__version__} has no torch.{name}, a private API that vaelib uses: "
                          f"{PRIVATE_APIS[name]}")
    return _lookup(name)  # type: ignore[return-value]


def set_deterministic_algorithms(mode: bool) -> None:
    """Turn torch's deterministic-algorithms flag on or off, as ``torch.use_deterministic_algorithms(mode)``. Returns None.

    Through ``torch._C._set_deterministic_algorithms`` when this torch has it: the same flag, without
    importing torch.compile's configuration (1.2 s). When that configuration is loaded already, its
    ``deterministic`` setting is set too, so the public function's whole effect is kept.
    """
    name = "_C._set_deterministic_algorithms"
    if not available(name):
        torch.use_deterministic_algorithms(mode)
        return
    require(name)(mode, warn_only=False)
    compile_config = sys.modules.get("torch._inductor.config")
    if compile_config is not None:
        compile_config.deterministic = mode


def fused_adam_(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], exp_avgs: Sequence[torch.Tensor],
                exp_avg_sqs: Sequence[torch.Tensor], steps: Sequence[torch.Tensor], *, lr: float, beta1: float,
                beta2: float, eps: float) -> None:
    """One Adam step of every tensor of ``params`` in place (no weight decay, no AMSGrad), by ``torch._fused_adam_``.

    ``exp_avgs`` and ``exp_avg_sqs`` are the moment estimates (updated in place), ``steps`` the
    step count of each parameter as a float32 tensor (already counting this step). Returns None.
    """
    require("_fused_adam_")(list(params), list(grads), list(exp_avgs), list(exp_avg_sqs), [], list(steps), lr=lr,
                            beta1=beta1, beta2=beta2, weight_decay=0.0, eps=eps, amsgrad=False, maximize=False)


__all__ = ["PRIVATE_APIS", "available", "fused_adam_", "require", "set_deterministic_algorithms"]
