"""Canonical matrix products: OpenBLAS's AVX2 kernels, one thread, the same bits on every x86-64 CPU with AVX2.

Training spends most of its time in matrix products (the linear layers forward and
backward, the MMD kernel's distances). torch's CPU wheel runs them in MKL, which picks its
kernels for the CPU it finds; MKL's only branch that gives the same bits on Intel and AMD
is ``COMPATIBLE``, whose SSE2 kernels run at about a third of the machine's speed.

OpenBLAS with its core type pinned runs the same AVX2 (Haswell) kernels on any CPU that has
AVX2 and FMA: one thread, the same blocking, the same order of fused multiply-adds, so the
same bits, at native AVX2 speed. vaelib loads its own copy of OpenBLAS (the
``scipy-openblas32`` package) with ``OPENBLAS_CORETYPE=Haswell`` and one thread, and, under
canonical numerics (:mod:`vaelib.numerics`), routes the products that dominate training and
evaluation through it: :class:`Linear` (the layers of every model and of the feature
classifier) and :func:`matmul` (the MMD's distances, the sliced Wasserstein projections).
Everything else keeps running in torch (MKL ``COMPATIBLE``, ATen's AVX2 kernels).

Its own copy, loaded by path, does not depend on when numpy (which bundles another
OpenBLAS) was imported. When the pin cannot be had (no AVX2/FMA, the package missing, a copy
already loaded with another core type) :func:`load` says why, and numerics reports that
bit-equality with the book is not promised; products then run in torch.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
from contextlib import contextmanager
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .errors import VaelibError

#: The pip package whose OpenBLAS vaelib loads (its symbols carry the prefix ``scipy_``).
PACKAGE = "scipy_openblas32"
#: The OpenBLAS core type every machine is pinned to: the AVX2 + FMA kernels.
CORETYPE = "Haswell"

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


@dataclass(frozen=True)
class Kernel:
    """The loaded canonical kernel: OpenBLAS ``version`` running core type ``corename`` on one thread."""

    version: str
    corename: str

    def describe(self) -> str:
        """e.g. 'OpenBLAS 0.3.34.481.3 Haswell, 1 thread'."""
        return f"OpenBLAS {self.version} {self.corename}, 1 thread"


_KERNEL: Kernel | None = None
_GEMM: dict[torch.dtype, ctypes._CFuncPtr] = {}
_SYEVD: ctypes._CFuncPtr | None = None
_ROUTED = False


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables inside the block and restore them after (child processes inherit nothing)."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def library_path() -> Path | None:
    """Path of the OpenBLAS shared library of :data:`PACKAGE` (without importing it), or None when not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    lib_dir = Path(next(iter(spec.submodule_search_locations))) / "lib"
    found = sorted(lib_dir.glob("libscipy_openblas*.so")) + sorted(lib_dir.glob("libscipy_openblas*.dylib"))
    return found[0] if found else None


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGE.replace("_", "-"))
    except PackageNotFoundError:
        return "unknown"


def load(coretype: str = CORETYPE) -> tuple[Kernel | None, str | None]:
    """Load OpenBLAS with its core type pinned to ``coretype`` (:data:`CORETYPE`) and one thread (once per process).

    Another ``coretype`` is for tests that show what the pin changes. Returns ``(kernel, None)`` when the pinned kernels run here, else ``(None, reason)``: one
    line saying why bit-equality with the book cannot be had (no AVX2/FMA, :data:`PACKAGE` not
    installed, or a copy of it already loaded in this process with another core type).
    """
    global _KERNEL, _SYEVD
    if _KERNEL is not None:
        return _KERNEL, None
    flags = _cpu_flags()
    if not {"avx2", "fma"} <= flags:
        return None, ("this CPU has no AVX2/FMA, so the canonical AVX2 matrix-product kernels cannot run here; "
                      "bit-equality with the book is not promised (results agree up to the seed spread)")
    path = library_path()
    if path is None:
        return None, (f"the package {PACKAGE.replace('_', '-')} (vaelib's pinned OpenBLAS) is not installed: "
                      f"pip install -r requirements.txt")
    # OpenBLAS reads its core type and thread count once, when the library is loaded
    with _environment(OPENBLAS_CORETYPE=coretype, OPENBLAS_NUM_THREADS="1", OPENBLAS_VERBOSE="0"):
        try:
            lib = ctypes.CDLL(str(path), mode=ctypes.RTLD_LOCAL)
        except OSError as e:
            return None, f"vaelib's OpenBLAS ({path}) could not be loaded: {e}"
    lib.scipy_openblas_get_corename.restype = ctypes.c_char_p
    corename = lib.scipy_openblas_get_corename().decode()   # the kernel table it runs ('Haswell' for 'Zen')
    if corename.lower() not in {coretype.lower(), CORETYPE.lower()}:
        return None, (f"vaelib's OpenBLAS runs core type {corename}, not {coretype} (was {PACKAGE} imported "
                      f"before vaelib?); restart Python and import vaelib first")
    lib.scipy_openblas_set_num_threads(1)
    for dtype, name, ctype in ((torch.float32, "scipy_cblas_sgemm", ctypes.c_float),
                               (torch.float64, "scipy_cblas_dgemm", ctypes.c_double)):
        fn = getattr(lib, name)
        fn.restype = None
        fn.argtypes = [ctypes.c_int] * 6 + [ctype, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                                            ctype, ctypes.c_void_p, ctypes.c_int]
        _GEMM[dtype] = fn
    syevd = lib.scipy_LAPACKE_dsyevd   # lapack_int is 32-bit in scipy-openblas32
    syevd.restype = ctypes.c_int
    syevd.argtypes = [ctypes.c_int, ctypes.c_char, ctypes.c_char, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                      ctypes.c_void_p]
    _SYEVD = syevd
    _KERNEL = Kernel(_package_version(), corename)
    return _KERNEL, None


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def other_openblas_problems() -> list[str]:
    """Why numpy's or scipy's own OpenBLAS may not run the pinned kernels in this process (empty when they do).

    Those copies (float64 products of the mixture fits) read ``$OPENBLAS_CORETYPE`` when they are
    loaded: a copy already loaded with another core type, or the variable set to another one, is
    named. Needs threadpoolctl (a scikit-learn dependency); without it, only the variable is checked.
    """
    problems = []
    wanted = os.environ.get("OPENBLAS_CORETYPE")
    if wanted is not None and wanted.lower() != CORETYPE.lower():
        problems.append(f"$OPENBLAS_CORETYPE is {wanted!r}, so numpy's and scipy's OpenBLAS run other kernels than "
                        f"the book's {CORETYPE}: unset it")
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return problems
    own = str(library_path()) if library_path() is not None else None
    for info in threadpool_info():
        arch = info.get("architecture") or ""
        if info.get("internal_api") == "openblas" and info.get("filepath") != own and arch.lower() != CORETYPE.lower():
            problems.append(f"{Path(info['filepath']).name} (numpy's or scipy's OpenBLAS) was loaded before vaelib and "
                            f"runs core type {arch}, not {CORETYPE}: import vaelib before numpy, or export "
                            f"OPENBLAS_CORETYPE={CORETYPE}")
    return problems


def route(on: bool) -> bool:
    """Route :class:`Linear` and :func:`matmul` through the pinned kernels (``on``) or torch; return whether routed.

    Called by :func:`vaelib.numerics.apply`; routing needs a successful :func:`load`.
    """
    global _ROUTED
    _ROUTED = bool(on) and load()[0] is not None
    return _ROUTED


def routed() -> bool:
    """True when float CPU products run on the pinned OpenBLAS kernels in this process."""
    return _ROUTED


def kernel() -> Kernel | None:
    """The loaded :class:`Kernel`, or None."""
    return _KERNEL


def _operand(t: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """(tensor, transpose flag, leading dimension) describing the 2-D ``t`` for a row-major gemm call."""
    rows, cols = t.shape
    s0, s1 = t.stride()
    if (s1 == 1 or cols == 1) and s0 >= max(1, cols):
        return t, _NO_TRANS, max(1, s0)
    if (s0 == 1 or rows == 1) and s1 >= max(1, rows):
        return t, _TRANS, max(1, s1)   # t is the transpose of a row-major (cols, rows) matrix
    t = t.contiguous()
    return t, _NO_TRANS, max(1, cols)


def _gemm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b for 2-D CPU tensors of one float dtype, on the pinned kernels; a new contiguous (m, n) tensor."""
    m, k = a.shape
    n = b.shape[1]
    out = torch.empty((m, n), dtype=a.dtype)
    if m == 0 or n == 0:
        return out
    if k == 0:
        return out.zero_()
    a, ta, lda = _operand(a)
    b, tb, ldb = _operand(b)
    _GEMM[a.dtype](_ROW_MAJOR, ta, tb, m, n, k, 1.0, a.data_ptr(), lda, b.data_ptr(), ldb, 0.0, out.data_ptr(), n)
    return out


def _eligible(*tensors: torch.Tensor) -> bool:
    first = tensors[0]
    return (_ROUTED and first.dtype in _GEMM and all(
        t.device.type == "cpu" and t.dtype == first.dtype and t.ndim == 2 and not t.is_complex() for t in tensors))


def _backward_product():
    """The product a backward pass uses: the raw kernel, or, when autograd records the backward itself
    (``create_graph=True``: double backward, e.g. the decoder Jacobian), the differentiable :func:`matmul`."""
    return matmul if torch.is_grad_enabled() else _gemm


class _MatMul(torch.autograd.Function):
    """a @ b on the pinned kernels, with its backward (grad_a = g b^T, grad_b = a^T g) on them too."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b if ctx.needs_input_grad[0] else None)
        return _gemm(a, b)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:  # type: ignore[override]
        a, b = ctx.saved_tensors
        mm = _backward_product()
        grad_a = mm(grad, b.T) if ctx.needs_input_grad[0] else None
        grad_b = mm(a.T, grad) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class _Linear(torch.autograd.Function):
    """x @ W^T + b on the pinned kernels; backward grad_x = g W, grad_W = g^T x, grad_b = sum of g over rows."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, weight if ctx.needs_input_grad[0] else None)
        out = _gemm(x, weight.T)
        if bias is not None:
            out.add_(bias)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        mm = _backward_product()
        grad_x = mm(grad, weight) if ctx.needs_input_grad[0] else None
        grad_w = mm(grad.T, x) if ctx.needs_input_grad[1] else None
        grad_b = grad.sum(dim=0) if ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b


def product_fingerprint() -> str:
    """The first 16 hex digits of the sha256 of the book's matrix products on fixed inputs, as this process runs them.

    The products of one 784-400 layer at batch 128, forward and both backward products
    (float32), and one float64 product: what :class:`Linear` and :func:`matmul` compute in
    training, on inputs drawn from a seeded generator. Two machines with equal fingerprints
    run the same product kernels.
    """
    import hashlib

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(128, 784, generator=gen)
    weight = torch.randn(400, 784, generator=gen) * 0.05
    grad = torch.randn(128, 400, generator=gen)
    double = torch.randn(300, 200, generator=gen, dtype=torch.float64)
    products = [matmul(x, weight.T), matmul(grad, weight), matmul(grad.T, x), matmul(double, double.T)]
    h = hashlib.sha256()
    for p in products:
        h.update(p.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b``; on the pinned kernels when routed and both are 2-D float CPU tensors (differentiable either way)."""
    if _eligible(a, b):
        return _MatMul.apply(a, b)
    return a @ b


def eigh(mat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (ascending) and eigenvectors (columns) of the symmetric float64 matrix ``mat``, as ``torch.linalg.eigh``.

    Routed, on the pinned OpenBLAS's LAPACK (``dsyevd``, lower triangle), whose products run on the
    pinned kernels: the same bits on every CPU with AVX2. MKL's ``COMPATIBLE`` branch, which
    ``torch.linalg.eigh`` (and its products in float64) run in, gave other last bits on an AMD
    EPYC than on an Intel Xeon, which FID's square roots of near-zero eigenvalues amplify to the
    7th digit. Not routed (or another dtype or device), ``torch.linalg.eigh``. Not differentiable.
    """
    if mat.ndim != 2 or mat.shape[0] != mat.shape[1]:
        raise VaelibError(f"eigh needs a square 2-D matrix, got shape {tuple(mat.shape)}")
    if not (_eligible(mat) and mat.dtype == torch.float64 and _SYEVD is not None):
        return torch.linalg.eigh(mat)
    n = mat.shape[0]
    vectors = mat.detach().contiguous().clone()   # overwritten by the eigenvectors (row-major, one per column)
    values = torch.empty(n, dtype=torch.float64)
    if n == 0:
        return values, vectors
    info = _SYEVD(_ROW_MAJOR, b"V", b"L", n, vectors.data_ptr(), n, values.data_ptr())
    if info != 0:
        raise VaelibError(f"OpenBLAS dsyevd failed (info {info}) on a {n}x{n} matrix: is it finite?")
    return values, vectors


def psd_sqrt(mat: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of the symmetric positive semi-definite ``mat`` (negative eigenvalues clipped to 0).

    ``V diag(sqrt(w)) V^T`` from :func:`eigh`, its product on :func:`matmul`: on the pinned kernels when routed.
    Same dtype and shape as ``mat``.
    """
    w, v = eigh(mat)
    return matmul(v * w.clamp(min=0).sqrt(), v.T)


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``x @ weight.T + bias`` (as ``torch.nn.functional.linear``); on the pinned kernels when routed."""
    if _eligible(x, weight) and (bias is None or (bias.dtype == x.dtype and bias.device.type == "cpu")):
        return _Linear.apply(x, weight, bias)
    return F.linear(x, weight, bias)


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1,
           padding: int = 0) -> torch.Tensor:
    """2-D convolution as ``torch.nn.functional.conv2d`` (square kernel, one stride and padding, no groups).

    On the pinned kernels when routed: the input's patches (``unfold``, pure indexing) times the
    weights as one matrix product; ``torch`` otherwise. Shapes: ``x`` (B, C, H, W), ``weight``
    (C_out, C, k, k); returns (B, C_out, H', W').
    """
    if not _eligible(x.flatten(1), weight.flatten(1)):
        return F.conv2d(x, weight, bias, stride=stride, padding=padding)
    batch, _, height, width = x.shape
    c_out, _, k, _ = weight.shape
    h_out = (height + 2 * padding - k) // stride + 1
    w_out = (width + 2 * padding - k) // stride + 1
    cols = F.unfold(x, k, padding=padding, stride=stride)                        # (B, C k k, L)
    cols = cols.transpose(0, 1).reshape(cols.shape[1], batch * h_out * w_out)     # (C k k, B L)
    out = matmul(weight.reshape(c_out, -1), cols)                                 # (C_out, B L)
    out = out.reshape(c_out, batch, h_out, w_out).transpose(0, 1)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out.contiguous()


def conv_transpose2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1,
                     padding: int = 0) -> torch.Tensor:
    """Transposed 2-D convolution as ``torch.nn.functional.conv_transpose2d`` (square kernel, no output padding).

    On the pinned kernels when routed: the weights' transpose times the input as one matrix
    product, then the patches summed into place (``fold``); ``torch`` otherwise. Shapes: ``x``
    (B, C, H, W), ``weight`` (C, C_out, k, k); returns (B, C_out, (H - 1) s - 2 p + k, ...).
    """
    if not _eligible(x.flatten(1), weight.flatten(1)):
        return F.conv_transpose2d(x, weight, bias, stride=stride, padding=padding)
    batch, c_in, height, width = x.shape
    _, c_out, k, _ = weight.shape
    h_out = (height - 1) * stride - 2 * padding + k
    w_out = (width - 1) * stride - 2 * padding + k
    x2d = x.transpose(0, 1).reshape(c_in, batch * height * width)                 # (C, B H W)
    cols = matmul(weight.reshape(c_in, -1).T, x2d)                                # (C_out k k, B H W)
    cols = cols.reshape(-1, batch, height * width).transpose(0, 1)                # (B, C_out k k, H W)
    out = F.fold(cols, (h_out, w_out), k, padding=padding, stride=stride)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


class Conv2d(nn.Conv2d):
    """``torch.nn.Conv2d`` (same parameters and state_dict; square kernel, no groups or dilation) through :func:`conv2d`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution of ``x`` (B, C, H, W); shape (B, out_channels, H', W')."""
        return conv2d(x, self.weight, self.bias, stride=self.stride[0], padding=self.padding[0])


class ConvTranspose2d(nn.ConvTranspose2d):
    """``torch.nn.ConvTranspose2d`` (same parameters; square kernel, no groups, dilation or output padding)
    through :func:`conv_transpose2d`."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        """The transposed convolution of ``x`` (B, C, H, W); shape (B, out_channels, H', W')."""
        return conv_transpose2d(x, self.weight, self.bias, stride=self.stride[0], padding=self.padding[0])


class Linear(nn.Linear):
    """``torch.nn.Linear`` (same parameters, same state_dict) whose product runs through :func:`linear`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ weight.T + bias`` for a (batch, in_features) ``x``; shape (batch, out_features)."""
        return linear(x, self.weight, self.bias)


__all__ = ["CORETYPE", "Conv2d", "ConvTranspose2d", "Kernel", "Linear", "conv2d", "conv_transpose2d", "eigh", "PACKAGE", "kernel", "library_path", "linear", "load", "matmul",
           "other_openblas_problems", "psd_sqrt", "product_fingerprint", "route", "routed"]
