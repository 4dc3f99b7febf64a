"""vaelib reaches private torch names only through vaelib.torch_private: an upgrade may remove one unannounced."""
from __future__ import annotations

import ast
from pathlib import Path

import vaelib

PACKAGE = Path(vaelib.__file__).parent

#: The one module allowed to reach private torch names (each listed and checked: tests/test_torch_private.py).
GUARDED = PACKAGE / "torch_private.py"


def _private_torch_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted name) of every ``torch...._name`` attribute and import of a private torch module or name."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names
                      if a.name.split(".")[0] == "torch" and any(p.startswith("_") for p in a.name.split("."))]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "torch":
            if any(part.startswith("_") for part in node.module.split(".")):
                found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names if a.name.startswith("_")]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            chain, base = [node.attr], node.value
            while isinstance(base, ast.Attribute):
                chain.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id == "torch":
                found.append((node.lineno, ".".join(["torch", *reversed(chain)])))
    return sorted(found)


def test_the_scan_finds_private_torch_names():
    code = ("import torch\ntorch._fused_adam_(x)\ntorch.cpu._is_avx2_supported()\nfrom torch._C import y\n"
            "import torch._dynamo\nfrom torch import _C\ntorch.__file__\nself._x\nfrom torch.optim import Adam")
    assert _private_torch_uses(ast.parse(code)) == [(2, "torch._fused_adam_"), (3, "torch.cpu._is_avx2_supported"),
                                                    (4, "torch._C"), (5, "torch._dynamo"), (6, "torch._C")]


def test_no_private_torch_api_outside_the_guarded_module():
    uses = [f"{path.relative_to(PACKAGE.parent)}:{line}: {name}" for path in sorted(PACKAGE.rglob("*.py"))
            if path != GUARDED for line, name in _private_torch_uses(ast.parse(path.read_text()))]
    assert not uses, ("private torch API outside vaelib/torch_private.py (use the public API, or go through "
                      "vaelib.torch_private): " + "; ".join(uses))
