"""vaelib.torch_private: every private torch API vaelib uses exists in this torch, and a missing one is named."""
from __future__ import annotations

import re

import pytest
import torch

from vaelib import torch_private
from vaelib.errors import VaelibError


@pytest.mark.parametrize("name", list(torch_private.PRIVATE_APIS))
def test_every_private_torch_api_vaelib_uses_exists_in_this_torch(name):
    assert torch_private.available(name), (
        f"torch {torch.__version__} has no torch.{name}, a private API that vaelib uses: "
        f"{torch_private.PRIVATE_APIS[name]}. vaelib falls back to that public API meanwhile; find the new name "
        f"or move to the fallback for good (vaelib/torch_private.py)")


def test_a_missing_private_api_is_named_with_the_torch_version(monkeypatch):
    monkeypatch.delattr(torch, "_fused_adam_")
    assert not torch_private.available("_fused_adam_")
    named = re.escape(f"torch {torch.__version__} has no torch._fused_adam_, a private API that vaelib uses")
    with pytest.raises(VaelibError, match=named):
        torch_private.require("_fused_adam_")
    with pytest.raises(VaelibError, match=r"torch\._foreach_add_ is not one of the private APIs vaelib may use"):
        torch_private.require("_foreach_add_")

