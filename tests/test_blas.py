"""vaelib.blas: the canonical matrix products agree with torch's, differentiate correctly, and are really used."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from vaelib import blas, numerics


@pytest.fixture(autouse=True)
def routed():
    if not blas.routed():
        pytest.skip(f"the canonical kernels are not routed here: {numerics.current().describe()}")


def _gen():
    return torch.Generator().manual_seed(0)


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_products_of_every_layout_match_torch(dtype, tol):
    g = _gen()
    a, b = torch.randn(37, 53, generator=g, dtype=dtype), torch.randn(53, 29, generator=g, dtype=dtype)
    for left in (a, a.T.contiguous().T):            # row-major, and the transpose of a row-major matrix
        for right in (b, b.T.contiguous().T):
            assert torch.allclose(blas.matmul(left, right), left @ right, rtol=tol, atol=tol)
    strided = torch.randn(37, 106, generator=g, dtype=dtype)[:, ::2]   # neither layout: copied first
    assert torch.allclose(blas.matmul(strided, b), strided @ b, rtol=tol, atol=tol)
    assert blas.matmul(a[:, :0], b[:0]).eq(0).all() and blas.matmul(a[:0], b).shape == (0, 29)


def test_matmul_and_linear_gradients_including_double_backward():
    g = _gen()
    a = torch.randn(6, 4, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(5, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(blas.matmul, (a, b))
    assert torch.autograd.gradcheck(blas.linear, (a, w, bias))
    assert torch.autograd.gradgradcheck(blas.linear, (a, w, bias))   # the decoder Jacobian differentiates twice


def test_conv_and_transposed_conv_match_torch_and_differentiate():
    g = _gen()
    x = torch.randn(3, 2, 12, 12, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 2, 4, 4, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.allclose(blas.conv2d(x, w, bias, 2, 1), F.conv2d(x, w, bias, stride=2, padding=1))
    y = torch.randn(3, 4, 6, 6, generator=g, dtype=torch.float64, requires_grad=True)
    wt = torch.randn(4, 2, 4, 4, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.allclose(blas.conv_transpose2d(y, wt, bias[:2], 2, 1),
                          F.conv_transpose2d(y, wt, bias[:2], stride=2, padding=1))
    assert torch.autograd.gradcheck(lambda *t: blas.conv2d(*t, 2, 1), (x[:1, :, :6, :6], w, bias))
    assert torch.autograd.gradcheck(lambda *t: blas.conv_transpose2d(*t, 2, 1), (y[:1, :, :3, :3], wt, bias[:2]))


def test_the_layers_keep_torchs_parameters_and_run_on_the_pinned_kernels(monkeypatch):
    layer = blas.Linear(7, 3)
    assert set(layer.state_dict()) == set(torch.nn.Linear(7, 3).state_dict())
    calls = []
    real = blas._gemm
    monkeypatch.setattr(blas, "_gemm", lambda a, b: calls.append(1) or real(a, b))
    layer(torch.randn(4, 7)).sum().backward()
    assert len(calls) == 2, "forward and the weight gradient (the input needs none)"


def test_without_routing_every_function_is_torchs_own():
    x, w = torch.randn(4, 7), torch.randn(3, 7)
    blas.route(False)
    try:
        assert torch.equal(blas.linear(x, w), F.linear(x, w))
        assert torch.equal(blas.matmul(x, w.T), x @ w.T)
    finally:
        blas.route(True)
    assert blas.routed()


def test_eigh_finds_known_eigenvalues_and_vectors_on_the_pinned_lapack(monkeypatch):
    # a constructed case with a known answer: Q diag(values) Q^T, Q a random orthogonal matrix, one value repeated
    g = _gen()
    q, _ = torch.linalg.qr(torch.randn(40, 40, generator=g, dtype=torch.float64))
    values = torch.cat([torch.zeros(5, dtype=torch.float64), torch.linspace(0.5, 20.0, 35, dtype=torch.float64)])
    mat = (q * values) @ q.T
    mat = (mat + mat.T) / 2
    calls = []
    real = blas._SYEVD
    monkeypatch.setattr(blas, "_SYEVD", lambda *a: calls.append(1) or real(*a))
    w, v = blas.eigh(mat)
    assert calls == [1], "not computed by the pinned OpenBLAS's dsyevd"
    assert torch.allclose(w, values, atol=1e-12)                                  # ascending, as torch's
    assert torch.allclose((v * w) @ v.T, mat, atol=1e-12)                         # columns are the vectors
    assert torch.allclose(v.T @ v, torch.eye(40, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(w, torch.linalg.eigh(mat)[0], atol=1e-12)
    assert torch.equal(mat, (mat + mat.T) / 2), "the input was overwritten"


def test_eigh_falls_back_to_torch_and_refuses_what_is_not_square():
    g = _gen()
    x = torch.randn(30, 10, generator=g)
    single = x.T @ x                                                              # float32: torch's own
    assert all(torch.equal(a, b) for a, b in zip(blas.eigh(single), torch.linalg.eigh(single)))
    blas.route(False)
    try:
        double = single.double()
        assert all(torch.equal(a, b) for a, b in zip(blas.eigh(double), torch.linalg.eigh(double)))
    finally:
        blas.route(True)
    with pytest.raises(ValueError, match=r"eigh needs a square 2-D matrix, got shape \(30, 10\)"):
        blas.eigh(x.double())
    with pytest.raises(ValueError, match="dsyevd failed"):
        blas.eigh(torch.full((3, 3), float("nan"), dtype=torch.float64))


def test_psd_sqrt_squares_back_and_clips_negative_eigenvalues():
    g = _gen()
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
    mat = (q * torch.tensor([0.0, 0.25, 1.0, 4.0, 9.0, 16.0], dtype=torch.float64)) @ q.T
    root = blas.psd_sqrt((mat + mat.T) / 2)
    assert torch.allclose(root @ root, mat, atol=1e-12) and torch.allclose(root, root.T, atol=1e-12)
    assert torch.allclose(torch.linalg.eigvalsh(root), torch.tensor([0.0, 0.5, 1.0, 2.0, 3.0, 4.0],
                                                                    dtype=torch.float64), atol=1e-7)
    indefinite = torch.diag(torch.tensor([-1.0, 4.0], dtype=torch.float64))
    assert torch.equal(blas.psd_sqrt(indefinite), torch.diag(torch.tensor([0.0, 2.0], dtype=torch.float64)))
