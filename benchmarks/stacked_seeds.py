"""Seeds trained together: stacked weights and batched matrix products, against worker processes.

Issue: "train seeds (or other same-shape models) together where it pays". Here K VAEs of
the book's size (784-400-d, batch 128, Adam) are trained for a few epochs on mnist5k under
canonical numerics in three ways, and their combined throughput (images per second, summed
over the K models) is printed:

  - one after another, each with ``vaelib.train`` (one process, one thread);
  - stacked: the K models' weights as (K, in, out) tensors, every layer one batched matrix
    product (``torch.baddbmm``) over the K models, one Adam over the stacked parameters,
    each model its own shuffle and noise (one process, one thread);
  - ``vaelib.train_many`` with one worker process per core.

Stacking would change the book's numbers (a batched product rounds differently from K
single ones), so it is only worth adopting if it clearly wins.

Run: .venv/bin/python benchmarks/stacked_seeds.py [--models 5] [--epochs 3] [--latent-dim 16]
"""
from __future__ import annotations

import argparse
import tempfile
import time

import torch
from torch import nn
from torch.nn import functional as F

import vaelib


class StackedVAE(nn.Module):
    """K independent Gaussian-encoder VAEs (data -> hidden -> 2 x latent; latent -> hidden -> data) as stacked weights."""

    def __init__(self, k: int, data_dim: int, hidden: int, latent: int, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.latent = latent
        shapes = [(data_dim, hidden), (hidden, 2 * latent), (latent, hidden), (hidden, data_dim)]
        self.weights = nn.ParameterList(
            [nn.Parameter((torch.rand(k, i, o, generator=gen) * 2 - 1) / i ** 0.5) for i, o in shapes])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(k, 1, o)) for _, o in shapes])

    def loss(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Sum over the K models of each one's negative ELBO (nats per image); ``x`` is (K, batch, data_dim)."""
        w, b = self.weights, self.biases
        h = F.relu(torch.baddbmm(b[0], x, w[0]))
        mean, logvar = torch.baddbmm(b[1], h, w[1]).split(self.latent, dim=2)
        z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=gen)
        logits = torch.baddbmm(b[3], F.relu(torch.baddbmm(b[2], z, w[2])), w[3])
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum()
        return (rec + kl) / x.shape[1]


def sequential(configs: list[vaelib.TrainConfig], data) -> float:
    """Seconds to train ``configs`` one after another in this process."""
    start = time.perf_counter()
    for config in configs:
        vaelib.train(config, data, progress=False)
    return time.perf_counter() - start


def stacked(k: int, data, epochs: int, latent: int, hidden: int = 400, batch: int = 128) -> float:
    """Seconds to train K stacked VAEs for ``epochs`` (each its own shuffle), one Adam over the stacked weights."""
    model = StackedVAE(k, data.dim, hidden, latent)
    params = list(model.parameters())
    optimiser = vaelib.optim.Adam(params, lr=1e-3)
    shuffles = [torch.Generator().manual_seed(s) for s in range(k)]
    noise = torch.Generator().manual_seed(1)
    x = data.x_train
    start = time.perf_counter()
    for _ in range(epochs):
        perms = torch.stack([torch.randperm(x.shape[0], generator=g) for g in shuffles])   # (K, N)
        for i in range(0, x.shape[0] - 1, batch):
            xb = x[perms[:, i:i + batch]]                                                    # (K, b, D)
            loss = model.loss(xb, noise)
            optimiser.step(torch.autograd.grad(loss, params))
    return time.perf_counter() - start


def in_workers(configs: list[vaelib.TrainConfig]) -> float:
    """Seconds for ``vaelib.train_many`` to train ``configs`` from an empty cache (worker start-up included)."""
    start = time.perf_counter()
    vaelib.train_many(configs, cache_dir=tempfile.mkdtemp(prefix="vaelib-stacked-"), progress=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=5, help="models trained together (K)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--latent-dim", type=int, default=16)
    args = parser.parse_args()
    data = vaelib.load_dataset("mnist5k")
    configs = [vaelib.TrainConfig(design="vae", latent_dim=args.latent_dim, epochs=args.epochs, seed=s)
               for s in range(args.models)]
    images = args.models * args.epochs * data.x_train.shape[0]
    print(vaelib.numerics.current().describe())
    print(f"{args.models} VAEs 784-400-{args.latent_dim}, {args.epochs} epochs each on mnist5k "
          f"({images:,} images in all); images per second, summed over the models:")
    times = {"one after another (1 process)": sequential(configs, data),
             "stacked, batched products (1 process)": stacked(args.models, data, args.epochs, args.latent_dim),
             f"train_many ({vaelib.parallel.default_workers()} worker processes)": in_workers(configs)}
    base = times["one after another (1 process)"]
    for name, seconds in times.items():
        print(f"  {name:42s} {images / seconds:10,.0f} /s   {base / seconds:5.2f}x")


if __name__ == "__main__":
    main()
