"""Canonical numerics: the same seed gives the same bits on any x86-64 CPU with AVX2.

Training is chaotic: two CPUs that round one matrix product differently end 30 epochs
apart by percents of FID. What decides the rounding, measured on torch 2.13 (CPU wheel):

- **The matrix-product kernels.** torch's float matrix products are MKL's ``sgemm``, which
  picks kernels for the CPU it runs on. Under canonical numerics the products that dominate
  training and evaluation (every linear layer, forward and backward; the MMD's distances)
  run instead on vaelib's own OpenBLAS with its core type pinned to the AVX2 kernels
  (:mod:`vaelib.blas`): the same bits on any CPU with AVX2 and FMA, at native AVX2 speed.
- **MKL's code branch**, for what still runs in MKL (other products, its vector maths).
  Intel's conditional numerical reproducibility (CNR) fixes its kernels, but on non-Intel
  CPUs every branch except ``COMPATIBLE`` silently falls back to the CPU's own (``AUTO``)
  dispatch, so only ``COMPATIBLE`` (SSE2 kernels) gives the same bits on Intel and AMD.
- **ATen's CPU capability.** torch's own vectorised kernels (reductions, Adam, the
  losses) exist in DEFAULT, AVX2 and AVX512 builds and round differently; torch picks the
  widest the CPU has. Pinned to AVX2 here.
- **The number of threads.** Both MKL and torch split reductions by thread, so 1 and 3
  threads give different bits. Pinned to one thread (numpy's and scikit-learn's thread
  pools too).
- oneDNN and NNPACK (convolutions) choose kernels by CPU as well; canonical numerics turn
  both off (convolutions then run as MKL matrix products), and ask torch for deterministic
  algorithms.

Two of these (MKL's branch, ATen's capability) are fixed for a process by its first
matrix product or first torch operation, so they are applied when :mod:`vaelib` is
imported, from the environment variable ``VAELIB_NUMERICS``:

- ``canonical``: all of the above, and training on the CPU. Bit-identical across x86-64
  CPUs with AVX2 and FMA, Intel or AMD, whatever their core count; one thread at AVX2 speed
  (``benchmarks/throughput.py`` measures the cost against native numerics).
- ``native``: the machine's fastest: a CUDA GPU when there is one, every CPU core, MKL
  and ATen kernels chosen for this CPU. Results agree with the book's up to the spread
  over seeds, not bit for bit.
- ``auto`` (the default): ``canonical`` on a machine without a CUDA GPU, ``native`` with one
  (a GPU cannot reproduce a CPU's bits anyway, and speed matters more there).

numpy and scipy (scikit-learn's mixture fits, in float64 on finished models) bring their
own OpenBLAS, which reads its core type when it is loaded: vaelib sets
``OPENBLAS_CORETYPE=Haswell`` when it is imported before them (the book's scripts export
it), and canonical numerics name any copy already running other kernels.
"""
from __future__ import annotations

import ctypes
import functools
import os
import platform
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import blas, torch_private
from .errors import check_choice

#: The environment variable read when vaelib is imported.
ENV_VAR = "VAELIB_NUMERICS"

MODES: dict[str, str] = {
    "auto": "canonical on a machine without a CUDA GPU, native with one",
    "canonical": "bit-identical on any x86-64 CPU with AVX2 and FMA: CPU only, 1 thread, matrix products on "
                 "OpenBLAS's AVX2 kernels, MKL branch COMPATIBLE, ATen kernels AVX2, oneDNN off, deterministic "
                 "algorithms",
    "native": "the machine's fastest: a CUDA GPU when there is one, every CPU core, kernels chosen for this CPU",
}

#: What canonical numerics fix (the values are the ones every machine is pinned to).
CANONICAL_THREADS = 1
CANONICAL_MKL_BRANCH = "COMPATIBLE"
CANONICAL_ATEN_CAPABILITY = "AVX2"

# oneMKL's named constants for mkl_cbwr_get / mkl_cbwr_set (mkl_service.h)
_MKL_CBWR_BRANCH = 1
_MKL_BRANCHES = {1: "OFF", 2: "AUTO", 3: "COMPATIBLE", 4: "SSE2", 6: "SSSE3", 7: "SSE4_1", 8: "SSE4_2", 9: "AVX",
                 10: "AVX2", 12: "AVX512_MIC", 13: "AVX512", 14: "AVX512_MIC_E1", 15: "AVX512_E1"}
_MKL_COMPATIBLE = next(code for code, name in _MKL_BRANCHES.items() if name == CANONICAL_MKL_BRANCH)


class NumericsWarning(UserWarning):
    """Canonical numerics could not be applied in full here: results may differ from the book's in the last bits."""


@dataclass(frozen=True)
class Numerics:
    """The numerics in force in this process.

    ``mode`` is 'canonical' or 'native' (``requested`` may be 'auto'); ``device`` is where
    vaelib trains by default; ``threads`` torch's intra-op thread count; ``mkl_branch``
    MKL's CNR branch ('OFF' when CNR is off, 'unavailable' without MKL);
    ``aten_capability`` the kernels torch dispatches to; ``bit_identical`` whether the
    book's promise (the same bits as its stored outputs) holds here; ``problems`` says why not.
    """

    mode: str
    requested: str
    device: str
    threads: int
    mkl_branch: str
    aten_capability: str
    bit_identical: bool
    problems: tuple[str, ...] = ()
    matmul: str = "torch"

    def describe(self) -> str:
        """One line for a notebook or log: the mode and what it fixed."""
        if self.mode == "native":
            return (f"numerics: native ({self.device}, {self.threads} threads, MKL branch {self.mkl_branch}, "
                    f"ATen kernels {self.aten_capability}; results match the book up to the seed spread)")
        promise = ("bit-identical to the book" if self.bit_identical
                   else "NOT bit-identical: " + "; ".join(self.problems))
        return (f"numerics: canonical (cpu, {self.threads} thread, matrix products {self.matmul}, MKL branch "
                f"{self.mkl_branch}, ATen kernels {self.aten_capability}; {promise})")

    @property
    def cache_tag(self) -> str:
        """The part of every cache key that depends on the numerics: models trained natively and canonically differ."""
        return f"canonical ({self.matmul})" if self.mode == "canonical" else "native"


_CURRENT: Numerics | None = None
_NATIVE_THREADS: int | None = None


def resolve_mode(requested: str | None = None) -> tuple[str, str]:
    """(requested, effective) mode: ``requested`` or ``$VAELIB_NUMERICS`` or 'auto'; 'auto' resolved.

    Raises UnknownNameError (one line, naming the accepted values) for any other value.
    """
    raw = requested if requested is not None else os.environ.get(ENV_VAR, "auto")
    value = raw.strip().lower()
    check_choice(f"numerics mode (${ENV_VAR})", value, MODES)
    if value != "auto":
        return value, value
    import torch

    return value, ("native" if torch.cuda.is_available() else "canonical")


def cpu_has_avx2() -> bool:
    """True on an x86-64 CPU with AVX2 and FMA (the ISA canonical numerics pin torch's and OpenBLAS's kernels to)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    flags = next((line.split(":", 1)[1].split() for line in _cpu_flags().splitlines() if line.startswith("flags")), [])
    return {"avx2", "fma"} <= set(flags)


def _cpu_flags() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables inside the block and restore them after (so child processes inherit nothing)."""
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


@functools.lru_cache(maxsize=1)
def _mkl():
    """The MKL inside torch's CPU library (ctypes handle), or None when this torch has none."""
    import torch

    lib_dir = Path(torch.__file__).parent / "lib"
    for name in ("libtorch_cpu.so", "libtorch_cpu.dylib", "torch_cpu.dll"):
        path = lib_dir / name
        if path.exists():
            try:
                lib = ctypes.CDLL(str(path))
                get, put = lib.mkl_serv_cbwr_get, lib.mkl_serv_cbwr_set
            except (OSError, AttributeError):
                return None
            get.restype, get.argtypes = ctypes.c_int, [ctypes.c_int]
            put.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
            return get, put
    return None


def mkl_branch() -> str:
    """MKL's CNR branch in this process ('OFF' when CNR is off), or 'unavailable' when torch has no MKL."""
    mkl = _mkl()
    if mkl is None:
        return "unavailable"
    code = mkl[0](_MKL_CBWR_BRANCH)
    return _MKL_BRANCHES.get(code, f"code {code}")


def apply(requested: str | None = None) -> Numerics:
    """Put this process under the numerics ``requested`` (default ``$VAELIB_NUMERICS``, else 'auto'); return them.

    vaelib calls this when it is imported. Called again later, it switches threads, device,
    oneDNN and deterministic algorithms, but MKL's branch and ATen's capability stay what
    the first matrix product fixed: a :class:`NumericsWarning` says so when that breaks
    the promise (restart the kernel with ``VAELIB_NUMERICS`` set before importing vaelib).
    Raises UnknownNameError for an unknown mode.
    """
    global _CURRENT, _NATIVE_THREADS
    requested_mode, mode = resolve_mode(requested)
    import torch

    if _NATIVE_THREADS is None:
        _NATIVE_THREADS = torch.get_num_threads()
    if mode == "canonical":
        state = _apply_canonical(torch, requested_mode)
    else:
        state = _apply_native(torch, requested_mode)
    for problem in state.problems:
        warnings.warn(f"canonical numerics: {problem}", NumericsWarning, stacklevel=2)
    _CURRENT = state
    return state


def _apply_canonical(torch, requested: str) -> Numerics:
    has_avx2 = cpu_has_avx2()
    problems = []
    if not has_avx2:
        problems.append(f"this CPU ({platform.machine()}) has no AVX2, so torch's kernels cannot be pinned to "
                        f"AVX2 and bit-equality with the book is not promised (results agree up to the seed spread)")
        capability = torch.backends.cpu.get_cpu_capability()
    else:
        # torch reads ATEN_CPU_CAPABILITY once, at its first dispatch (or this query), and keeps it for the process
        with _environment(ATEN_CPU_CAPABILITY=CANONICAL_ATEN_CAPABILITY.lower()):
            capability = torch.backends.cpu.get_cpu_capability()
        if capability != CANONICAL_ATEN_CAPABILITY:
            problems.append(f"torch already runs its {capability} kernels in this process; restart it with "
                            f"{ENV_VAR}=canonical set before any torch operation")
    mkl = _mkl()
    if mkl is None:
        if has_avx2:
            problems.append("this torch has no MKL that vaelib can pin, so its matrix products are not pinned")
    elif mkl[0](_MKL_CBWR_BRANCH) != _MKL_COMPATIBLE and mkl[1](_MKL_COMPATIBLE) != 0:
        # MKL takes a branch only before its first call
        problems.append(f"MKL was already used in this process with branch {mkl_branch()}; restart it with "
                        f"{ENV_VAR}=canonical set before any matrix product")
    kernel, problem = blas.load() if has_avx2 else (None, None)
    if problem:
        problems.append(problem)
    elif kernel is not None:
        problems.extend(blas.other_openblas_problems())
    blas.route(kernel is not None)
    # libraries loaded later (scipy's OpenBLAS, scikit-learn's OpenMP) read their thread count from the environment
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(name, str(CANONICAL_THREADS))
    torch.set_num_threads(CANONICAL_THREADS)
    _limit_blas_threads(CANONICAL_THREADS)
    torch.backends.mkldnn.enabled = False   # convolutions then run as MKL matrix products,
    torch.backends.nnpack.set_flags(False)  # not as oneDNN's or NNPACK's CPU-specific kernels
    torch_private.set_deterministic_algorithms(True)   # the public function's flag, 1.2 s sooner
    # ... without filling every new tensor with NaN first (a debugging aid of deterministic mode that cost
    # 8% of a training step: every output of the canonical matrix products is written in full anyway)
    torch.utils.deterministic.fill_uninitialized_memory = False
    return Numerics("canonical", requested, "cpu", torch.get_num_threads(), mkl_branch(), capability,
                    bit_identical=not problems, problems=tuple(problems),
                    matmul=kernel.describe() if kernel is not None else "torch")


def _apply_native(torch, requested: str) -> Numerics:
    threads = _NATIVE_THREADS or torch.get_num_threads()
    blas.route(False)
    torch.set_num_threads(threads)
    _limit_blas_threads(None)
    torch.backends.mkldnn.enabled = True
    torch.backends.nnpack.set_flags(True)
    torch_private.set_deterministic_algorithms(False)
    torch.utils.deterministic.fill_uninitialized_memory = True
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return Numerics("native", requested, device, torch.get_num_threads(), mkl_branch(),
                    torch.backends.cpu.get_cpu_capability(), bit_identical=False)


_BLAS_LIMITER = None


def _limit_blas_threads(threads: int | None) -> None:
    """Limit numpy's / scipy's BLAS and OpenMP pools to ``threads`` (None: lift the limit)."""
    global _BLAS_LIMITER
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn brings threadpoolctl; without it there is nothing to limit
        return
    if _BLAS_LIMITER is not None:
        _BLAS_LIMITER.restore_original_limits()
        _BLAS_LIMITER = None
    if threads is not None:
        _BLAS_LIMITER = threadpool_limits(limits=threads)


def current() -> Numerics:
    """The numerics in force (applying ``$VAELIB_NUMERICS`` first if nothing has applied any yet)."""
    return _CURRENT if _CURRENT is not None else apply()


def default_device() -> str:
    """Where vaelib trains by default: 'cuda' under native numerics with a CUDA GPU, else 'cpu'."""
    return current().device



def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (e.g. 'AMD EPYC 7B13'), or the platform's processor string."""
    for line in _cpu_flags().splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


__all__ = ["CANONICAL_ATEN_CAPABILITY", "CANONICAL_MKL_BRANCH", "CANONICAL_THREADS", "ENV_VAR", "MODES", "Numerics",
           "NumericsWarning", "apply", "cpu_has_avx2", "cpu_model", "current", "default_device",
           "mkl_branch", "resolve_mode"]
