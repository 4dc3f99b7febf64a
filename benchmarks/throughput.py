"""Training throughput: vaelib against a reference loop written like pytorch/examples' vae/main.py.

Trains the classic MLP VAE (784-400-20, batch 128, Adam 1e-3, Bernoulli/BCE) on mnist5k's
training split (4,000 images) with
  1. a reference loop: DataLoader(TensorDataset, shuffle=True), sigmoid + BCE, .item() per step;
  2. vaelib.train with the same architecture and hyperparameters (design 'vae');
  3. vaelib.train with the 'wae-mmd' design (same network, deterministic head, MMD to N(0, I));
  4. the matrix products alone (forward and backward of the same layers): the ceiling no loop reaches;
and prints samples/s of each (training passes only; test evaluation excluded) and the
ratios (median over repeats of the ratio within each repeat, robust to a machine whose
speed drifts between runs, with a bootstrap 95% interval: a target counts as met only when
the whole interval clears it). Targets on a 2-core CPU: vaelib VAE >= 1.6x the reference; MMD >= 0.8x vaelib VAE.

It then runs the same four loops on an 8-4-2 model, whose arithmetic costs next to nothing,
and prints both times per batch: what is left on the tiny model is each loop's own cost
(Python, operator dispatch, autograd bookkeeping, optimiser calls), which no model size
changes and which is where a faster loop has to win.

Last, the cost of canonical numerics (vaelib.numerics): the vaelib VAE's samples/s in fresh
processes under native numerics, native with one thread, native with one thread and MKL's
COMPATIBLE branch, canonical numerics with MKL left on its own branch, and canonical numerics
(each process fixes its numerics at import, so each variant runs in its own), interleaved,
with the same paired-ratio intervals: canonical against native on one thread (target >= 0.8x),
and the share of canonical training time that MKL's COMPATIBLE branch still costs.

The loops above run under the numerics of this process (printed first; canonical unless
VAELIB_NUMERICS says otherwise).

Run: .venv/bin/python benchmarks/throughput.py [--epochs 3] [--repeats 11] [--numerics-repeats 5]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

import vaelib


#: the classic sizes (data, hidden, latent), and tiny ones whose arithmetic costs next to nothing,
#: so that the same loops on them time only what a step costs besides arithmetic
CLASSIC_SIZES: tuple[int, int, int] = (784, 400, 20)
TINY_SIZES: tuple[int, int, int] = (8, 4, 2)


class ReferenceVAE(nn.Module):
    """The model of pytorch/examples vae/main.py (784-400-20 unless ``sizes`` says otherwise)."""

    def __init__(self, sizes: tuple[int, int, int] = CLASSIC_SIZES) -> None:
        super().__init__()
        self.data_dim, hidden, latent = sizes
        self.fc1 = nn.Linear(self.data_dim, hidden)
        self.fc21 = nn.Linear(hidden, latent)
        self.fc22 = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent, hidden)
        self.fc4 = nn.Linear(hidden, self.data_dim)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, self.data_dim))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def reference_loss(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, recon_x.shape[1]), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def reference_samples_per_second(x_train: torch.Tensor, epochs: int,
                                 sizes: tuple[int, int, int] = CLASSIC_SIZES) -> float:
    """Train the reference loop (layer ``sizes``) for ``epochs``; return samples/s over the training passes."""
    torch.manual_seed(0)
    model = ReferenceVAE(sizes)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(x_train, torch.zeros(len(x_train))), batch_size=128, shuffle=True)
    seconds = 0.0
    for _ in range(epochs):
        model.train()
        start = time.perf_counter()
        train_loss = 0.0
        for data, _ in loader:
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = reference_loss(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        seconds += time.perf_counter() - start
    return len(x_train) * epochs / seconds


def matmul_only_samples_per_second(x_train: torch.Tensor, epochs: int,
                                   sizes: tuple[int, int, int] = CLASSIC_SIZES) -> float:
    """The floor under vaelib's loops: the same four layers' forward and backward (ReLU, bias), no loss, no optimiser.

    Returns samples/s. The products run where vaelib's run in this process (:func:`vaelib.blas.linear`:
    the canonical kernels under canonical numerics, torch's otherwise). Every loop above pays these
    matrix products; the rest of a step is what a training loop can make cheaper.
    """
    from vaelib.blas import linear

    torch.manual_seed(0)
    model = ReferenceVAE(sizes)
    params = list(model.parameters())

    def layer(module: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        return linear(x, module.weight, module.bias)

    seconds = 0.0
    for _ in range(epochs):
        start = time.perf_counter()
        for xb in x_train[torch.randperm(len(x_train))].split(128):
            h = F.relu(layer(model.fc1, xb))
            out = layer(model.fc4, F.relu(layer(model.fc3, layer(model.fc21, h))))
            torch.autograd.grad(out.sum(), params, allow_unused=True)
        seconds += time.perf_counter() - start
    return len(x_train) * epochs / seconds


def vaelib_samples_per_second(design: str, data: vaelib.Dataset, epochs: int,
                              sizes: tuple[int, int, int] = CLASSIC_SIZES) -> float:
    """Train ``design`` with vaelib (layer ``sizes``, batch 128, Adam 1e-3); return its training samples/s."""
    _, hidden, latent = sizes
    config = vaelib.TrainConfig(design=design, dataset="mnist5k", latent_dim=latent, hidden_dims=(hidden,),
                                batch_size=128, lr=1e-3, epochs=epochs, seed=0)
    return vaelib.train(config, data, progress=False).history.samples_per_second


def median_interval(values: list[float], level: float = 0.95, resamples: int = 2000) -> tuple[float, float, float]:
    """The median of ``values`` and a percentile-bootstrap interval for it: (median, low, high).

    Resamples ``values`` with replacement ``resamples`` times (fixed seed, so the same values
    give the same interval) and takes the central ``level`` share of the resampled medians.
    """
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    tail = (1.0 - level) / 2.0
    low = medians[round(tail * (resamples - 1))]
    high = medians[round((1.0 - tail) * (resamples - 1))]
    return statistics.median(values), low, high


def verdict(low: float, high: float, target: float) -> str:
    """'met' when the whole interval is at or above ``target``, 'NOT met' when it is all below, else undecided."""
    if low >= target:
        return "met"
    if high < target:
        return "NOT met"
    return "undecided at this precision: the interval holds the target (more --repeats narrow it)"


NAMES = ("reference loop (pytorch/examples style)", "vaelib vae", "vaelib wae-mmd",
         "matmul-only forward+backward (the floor)")


def measure(data: vaelib.Dataset, epochs: int, repeats: int, sizes: tuple[int, int, int]) -> dict[str, list[float]]:
    """samples/s of the four loops on ``data`` with layer ``sizes``, ``repeats`` interleaved runs each.

    Interleaved, so drift in machine load hits all four alike; each repeat gives one paired ratio.
    """
    runs: dict[str, list[float]] = {name: [] for name in NAMES}
    for _ in tqdm(range(repeats), desc=f"repeats {'-'.join(map(str, sizes))}", leave=False):
        runs[NAMES[0]].append(reference_samples_per_second(data.x_train, epochs, sizes))
        runs[NAMES[1]].append(vaelib_samples_per_second("vae", data, epochs, sizes))
        runs[NAMES[2]].append(vaelib_samples_per_second("wae-mmd", data, epochs, sizes))
        runs[NAMES[3]].append(matmul_only_samples_per_second(data.x_train, epochs, sizes))
    return runs


def tiny_dataset(n_train: int) -> vaelib.Dataset:
    """Uniform noise in [0, 1] with TINY_SIZES[0] features: data for timing the loops without arithmetic."""
    gen = torch.Generator().manual_seed(0)
    dim = TINY_SIZES[0]
    return vaelib.Dataset(name="tiny", x_train=torch.rand(n_train, dim, generator=gen),
                          y_train=torch.zeros(n_train, dtype=torch.int64), x_test=torch.rand(128, dim, generator=gen),
                          y_test=torch.zeros(128, dtype=torch.int64), image_shape=None, intrinsic_dim=None,
                          description="uniform noise (timing only)")


#: The numerics variants timed in their own processes: the environment each one starts with.
NUMERICS_VARIANTS: dict[str, dict[str, str]] = {
    "native": {"VAELIB_NUMERICS": "native"},
    "native, 1 thread": {"VAELIB_NUMERICS": "native", "OMP_NUM_THREADS": "1"},
    "native, 1 thread, MKL COMPATIBLE": {"VAELIB_NUMERICS": "native", "OMP_NUM_THREADS": "1",
                                         "MKL_CBWR": "COMPATIBLE"},
    # canonical in every respect (OpenBLAS products, ATen AVX2, one thread) but MKL's branch, which a matrix
    # product run before vaelib is imported fixes to the CPU's own: what MKL COMPATIBLE still costs
    "canonical, MKL's own branch": {"VAELIB_NUMERICS": "canonical", "ATEN_CPU_CAPABILITY": "avx2",
                                    "MKL_CBWR": "AUTO", "VAELIB_BENCH_MKL_FIRST": "1"},
    "canonical": {"VAELIB_NUMERICS": "canonical"},
}

#: The variables the variants set; a variant starts without the benchmark's own values of them.
_VARIANT_KEYS = ("VAELIB_NUMERICS", "OMP_NUM_THREADS", "MKL_CBWR", "ATEN_CPU_CAPABILITY", "VAELIB_BENCH_MKL_FIRST")

#: One measurement in a fresh process: optionally let MKL take its own branch first, then import vaelib.
_CHILD = """
import json, os, sys, warnings
if os.environ.get("VAELIB_BENCH_MKL_FIRST"):
    import torch
    torch.ones(64, 64) @ torch.ones(64, 64)
warnings.simplefilter("ignore")   # canonical numerics warn that MKL was used first: that is the point here
sys.path.insert(0, sys.argv[1])
import vaelib
from throughput import gemm_gflops, vaelib_samples_per_second
data = vaelib.load_dataset("mnist5k")
sps = vaelib_samples_per_second("vae", data, int(sys.argv[2]), tuple(int(v) for v in sys.argv[3:6]))
speeds = gemm_gflops()
print(json.dumps({"samples_per_second": sps, "numerics": vaelib.numerics.current().describe(),
                  "gemm_gflops": speeds.get("canonical kernels", speeds["torch"])}))
"""


def run_in_process(env: dict[str, str], epochs: int, sizes: tuple[int, int, int] = CLASSIC_SIZES) -> dict[str, float]:
    """In a fresh Python process started with ``env`` added: the vaelib VAE's training samples/s
    (``samples_per_second``) and the single-thread GFLOP/s of the layer products it trains with (``gemm_gflops``:
    vaelib's canonical kernels when routed, else torch's)."""
    clean = {k: v for k, v in os.environ.items() if k not in _VARIANT_KEYS}
    cmd = [sys.executable, "-c", _CHILD, os.path.dirname(os.path.abspath(__file__)), str(epochs), *map(str, sizes)]
    done = subprocess.run(cmd, env={**clean, **env}, capture_output=True, text=True, check=True)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return {"samples_per_second": float(answer["samples_per_second"]), "gemm_gflops": float(answer["gemm_gflops"])}


def measure_numerics(epochs: int, repeats: int,
                     sizes: tuple[int, int, int] = CLASSIC_SIZES) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Under each of :data:`NUMERICS_VARIANTS`, ``repeats`` interleaved processes each: the vaelib VAE's samples/s,
    and the GFLOP/s of the products it trains with (:func:`run_in_process`); two dicts of lists, by variant."""
    runs: dict[str, list[float]] = {name: [] for name in NUMERICS_VARIANTS}
    gemm: dict[str, list[float]] = {name: [] for name in NUMERICS_VARIANTS}
    for _ in tqdm(range(repeats), desc="numerics", leave=False):
        for name, env in NUMERICS_VARIANTS.items():
            answer = run_in_process(env, epochs, sizes)
            runs[name].append(answer["samples_per_second"])
            gemm[name].append(answer["gemm_gflops"])
    return runs, gemm


def training_flop_per_sample(sizes: tuple[int, int, int] = CLASSIC_SIZES) -> float:
    """FLOP of the layer products per training sample of vaelib's MLP VAE of ``sizes`` (data, hidden, latent):
    :func:`vaelib.training.matmul_flop` for one image and one epoch, no test images."""
    from vaelib.training import History, matmul_flop

    data, hidden, latent = sizes
    model = vaelib.build_model(vaelib.TrainConfig(design="vae", latent_dim=latent, hidden_dims=(hidden,)), data, None)
    return matmul_flop(model, History(n_train=1, epoch_seconds=[0.0]))


def products_bound(canonical_gflops: float, native_gflops: float, native_gemm_share: float) -> float:
    """The canonical / native training-speed ratio if only the matrix products differed between the two.

    ``native_gemm_share``: the share of native training time spent in the products (0-1). With the rest of
    a step as fast in both, canonical time is (1 - share) + share x native/canonical GFLOP/s of the products.
    A ratio (unitless): at most 1, equal to the products' own ratio when the products are all the time.
    """
    return 1.0 / ((1.0 - native_gemm_share) + native_gemm_share * native_gflops / canonical_gflops)


def report_numerics(runs: dict[str, list[float]], gemm: dict[str, list[float]] | None = None) -> None:
    """Print each variant's median samples/s and its paired ratios to native and to native on one thread
    (95% intervals), canonical against the target of 0.8x native single-thread, and MKL COMPATIBLE's share.

    With ``gemm`` (the GFLOP/s of each variant's layer products), also the bound the products set: their
    canonical / native ratio, and what canonical training would reach were the products its only difference."""
    print(f"\nCost of canonical numerics (vaelib vae {'-'.join(map(str, CLASSIC_SIZES))}, one process per run):")
    native, single = runs["native"], runs["native, 1 thread"]
    for name, values in runs.items():
        med, low, high = median_interval([v / n for v, n in zip(values, native)])
        med1, low1, high1 = median_interval([v / n for v, n in zip(values, single)])
        print(f"{name:<34} {statistics.median(values):>9,.0f} samples/s median   {med:.3f}x native "
              f"({low:.3f}-{high:.3f})   {med1:.3f}x native 1 thread ({low1:.3f}-{high1:.3f})")
    ratios = [c / n for c, n in zip(runs["canonical"], single)]
    med, low, high = median_interval(ratios)
    print(f"canonical / native on one thread = {med:.3f}x (95% interval {low:.3f}-{high:.3f}); target >= 0.8x: "
          f"{verdict(low, high, 0.8)}")
    share = [1.0 - c / a for c, a in zip(runs["canonical"], runs["canonical, MKL's own branch"])]
    med, low, high = median_interval(share)
    print(f"MKL COMPATIBLE's share of canonical training time (what is left in MKL: its vector maths) = "
          f"{med:+.1%} (95% interval {low:+.1%} to {high:+.1%})")
    if gemm is None:
        return
    canonical, native = statistics.median(gemm["canonical"]), statistics.median(gemm["native, 1 thread"])
    flop_per_sample = training_flop_per_sample(CLASSIC_SIZES)
    native_share = min(1.0, statistics.median(single) * flop_per_sample / (native * 1e9))
    print(f"the products alone (a 784-400 layer's three, one thread): canonical kernels {canonical:.1f} GFLOP/s, "
          f"native {native:.1f}: {canonical / native:.3f}x. They are {native_share:.0%} of native training time "
          f"(its samples/s x about {flop_per_sample / 1e6:.1f} MFLOP of products per sample, at that speed), so were "
          f"they the only difference, canonical would run at {products_bound(canonical, native, native_share):.3f}x "
          f"native 1 thread: the ceiling that canonical kernels slower than native ones set on this CPU")


def gemm_gflops(repeats: int = 7, batch: int = 128, sizes: tuple[int, int] = (784, 400)) -> dict[str, float]:
    """Single-thread GFLOP/s of the book's layer products in this process: a (batch x in) @ (in x out) layer's
    forward and both backward products, on vaelib's canonical kernels and on torch's (MKL) here. Best of ``repeats``."""
    from vaelib import blas

    gen = torch.Generator().manual_seed(0)
    n_in, n_out = sizes
    x, w, g = torch.rand(batch, n_in, generator=gen), torch.randn(n_out, n_in, generator=gen), torch.randn(batch, n_out,
                                                                                                       generator=gen)
    flop = 3 * 2 * batch * n_in * n_out
    out = {}
    for name, mm in (("canonical kernels", blas.matmul), ("torch", torch.matmul)):
        if name.startswith("canonical") and not blas.routed():
            continue
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(20):
                mm(x, w.T), mm(g, w), mm(g.T, x)
            best = min(best, (time.perf_counter() - start) / 20)
        out[name] = flop / best / 1e9
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="training epochs per run")
    parser.add_argument("--repeats", type=int, default=11,
                        help="interleaved runs of each; medians of samples/s and of the paired ratios are reported")
    parser.add_argument("--numerics-repeats", type=int, default=5,
                        help="interleaved processes per numerics variant (0 skips that section)")
    args = parser.parse_args()
    data = vaelib.load_dataset("mnist5k")
    print(f"torch {torch.__version__}, {vaelib.numerics.current().describe()}; {len(data.x_train)} training images, "
          f"{args.epochs} epochs x {args.repeats} repeats (median reported); CPU {vaelib.numerics.cpu_model()}")
    speeds = gemm_gflops()
    print("single-thread GFLOP/s of a 784-400 layer's three products at batch 128: "
          + ", ".join(f"{name} {value:.1f}" for name, value in speeds.items()))
    runs = measure(data, args.epochs, args.repeats, CLASSIC_SIZES)
    tiny = measure(tiny_dataset(len(data.x_train)), args.epochs, args.repeats, TINY_SIZES)
    for name in NAMES:
        spread = ", ".join(f"{v:,.0f}" for v in runs[name])
        print(f"{name:<42} {statistics.median(runs[name]):>9,.0f} samples/s median   (runs: {spread})")
    ratios = {
        "vaelib vae / reference     ": ([v / r for v, r in zip(runs[NAMES[1]], runs[NAMES[0]])], 1.6),
        "vaelib wae-mmd / vaelib vae": ([m / v for m, v in zip(runs[NAMES[2]], runs[NAMES[1]])], 0.8),
    }
    for label, (values, target) in ratios.items():
        med, low, high = median_interval(values)
        print(f"{label} = {med:.3f}x median of paired runs, 95% interval {low:.3f}-{high:.3f} "
              f"(runs {min(values):.2f}-{max(values):.2f}); target >= {target}x: {verdict(low, high, target)}")
    # the same loops on a model too small for its arithmetic to count: what remains is the cost of
    # the loop itself (Python, operator dispatch, autograd bookkeeping, optimiser calls), per batch
    print(f"\nTime per batch of 128, milliseconds: {'-'.join(map(str, CLASSIC_SIZES))} model, and the same loop "
          f"on a {'-'.join(map(str, TINY_SIZES))} model (arithmetic next to nothing: the loop's own cost)")
    for name in NAMES:
        full_ms = 128e3 / statistics.median(runs[name])
        tiny_ms = 128e3 / statistics.median(tiny[name])
        print(f"{name:<42} {full_ms:6.2f} ms   loop's own cost {tiny_ms:5.2f} ms ({tiny_ms / full_ms:4.0%})")
    print("(wae-mmd's kernel matrices are batch x batch and do not shrink with the model: its tiny-model "
          "figure still holds that arithmetic)")
    if args.numerics_repeats > 0:
        report_numerics(*measure_numerics(args.epochs, args.numerics_repeats))


if __name__ == "__main__":
    main()
