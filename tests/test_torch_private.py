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



def test_the_deterministic_flag_is_set_as_the_public_function_sets_it(monkeypatch):
    before = torch.are_deterministic_algorithms_enabled()
    try:
        for mode in (False, True):
            torch_private.set_deterministic_algorithms(mode)
            assert torch.are_deterministic_algorithms_enabled() is mode
            assert not torch.is_deterministic_algorithms_warn_only_enabled()
        # once torch.compile's configuration is loaded, its setting follows too, as with the public function
        import torch._inductor.config as compile_config
        torch_private.set_deterministic_algorithms(False)
        assert compile_config.deterministic is False
        torch_private.set_deterministic_algorithms(True)
        assert compile_config.deterministic is True
        # without the private function: the public one, the same flag
        monkeypatch.delattr(torch._C, "_set_deterministic_algorithms")
        assert not torch_private.available("_C._set_deterministic_algorithms")
        called = []
        monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda mode: called.append(mode))
        torch_private.set_deterministic_algorithms(False)
        assert called == [False]
    finally:
        monkeypatch.undo()
        torch.use_deterministic_algorithms(before)


def test_importing_vaelib_does_not_load_torch_compile():
    """The 1.2 s that torch.use_deterministic_algorithms spends importing torch.compile's configuration."""
    import subprocess
    import sys

    code = ("import sys, torch, vaelib; assert torch.are_deterministic_algorithms_enabled() == "
            "(vaelib.numerics.current().mode == 'canonical'); print('torch._inductor.config' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", done.stderr
