"""Cost and accuracy of the AIS estimate of log p(x) (vaelib.metrics.ais) at its default budget.

Cost: seconds per 100 mnist5k test images for the book's MLP (decoder d-400-784) at latent dims 2, 8
and 32, wall-clock and CPU time of this process (one thread under canonical numerics, so CPU time is
what the run would take on an idle core; wall-clock also counts other jobs on the machine). Target: 200
images of one model in at most about 20 s on one thread.

Accuracy: at latent dim 2, against the exact log p(x) by quadrature
(:func:`vaelib.metrics.likelihood.exact_log_likelihood_per_image`) on the same images: the gap (mean
over images of AIS - exact; negative = below the truth), its standard error over images, the largest
error of one image, and the chains' spread, for a VAE and a plain AE.

Optionally (``--long-run-images N``), at latent dims 8 and 32 where no quadrature exists: the default
budget against AIS with 10 times as many temperatures on N images (paired), a check of how far the
default budget is from converged.

Models: VAE (and AE at d = 2) trained for ``--epochs`` (default 10) with vaelib.load_or_train (cached).

Run: .venv/bin/python benchmarks/ais_time.py [--images 200] [--chains 4 --temperatures 400 --leapfrog 2]
"""
from __future__ import annotations

import argparse
import math
import time

import torch

import vaelib
from vaelib.metrics import ais, likelihood


def seconds_per_100_images(model, x: torch.Tensor, **budget) -> dict[str, float]:
    """Wall-clock and CPU seconds that :func:`ais.ais_log_likelihood` takes per 100 images of ``x``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = ais.ais_log_likelihood(model, x, **budget)
    scale = 100 / x.shape[0]
    return {"wall": (time.perf_counter() - wall) * scale, "cpu": (time.process_time() - cpu) * scale,
            "acceptance": result["acceptance"], "chain_spread": result["chain_spread"]}


def accuracy_against_quadrature(model, x: torch.Tensor, **budget) -> dict[str, float]:
    """AIS against exact quadrature on the images ``x`` of a 1- or 2-D model (nats/image).

    Returns ``{"exact": mean exact log p(x), "gap": mean of AIS - exact, "stderr": the standard error of
    that gap over images, "max_abs_error": the largest |AIS - exact| of one image, "chain_spread": mean std
    of the chains' log weights}``.
    """
    exact = likelihood.exact_log_likelihood_per_image(model, x)
    result = ais.ais_per_image(model, x, **budget)
    err = result.log_likelihood - exact
    return {"exact": float(exact.mean()), "gap": float(err.mean()),
            "stderr": float(err.std()) / math.sqrt(err.numel()), "max_abs_error": float(err.abs().max()),
            "chain_spread": float(result.log_weights.std(dim=1).mean())}


def against_long_run(model, x: torch.Tensor, factor: int = 10, **budget) -> dict[str, float]:
    """AIS at ``budget`` against AIS with ``factor`` times as many temperatures on the same images (nats/image).

    Returns ``{"long_run": mean estimate of the long run, "gap": mean of (budget - long run), "stderr": its
    standard error over images, "long_run_spread": the long run's chain spread}``. The long run is itself a
    lower bound, so a gap near 0 means "as good as 10 times the work", not "exact".
    """
    short = ais.ais_per_image(model, x, **budget)
    long_budget = {**budget, "n_temperatures": factor * budget.get("n_temperatures", ais.DEFAULT_TEMPERATURES)}
    long = ais.ais_per_image(model, x, seed=1, **long_budget)
    diff = short.log_likelihood - long.log_likelihood
    return {"long_run": float(long.log_likelihood.mean()), "gap": float(diff.mean()),
            "stderr": float(diff.std()) / math.sqrt(diff.numel()),
            "long_run_spread": float(long.log_weights.std(dim=1).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200, help="test images for the accuracy (default 200)")
    parser.add_argument("--timing-images", type=int, default=100, help="test images timed per latent dim")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--long-run-images", type=int, default=0,
                        help="also compare with 10x the temperatures on this many images at d = 8, 32 (0: skip)")
    parser.add_argument("--chains", type=int, default=ais.DEFAULT_CHAINS)
    parser.add_argument("--temperatures", type=int, default=ais.DEFAULT_TEMPERATURES)
    parser.add_argument("--leapfrog", type=int, default=ais.DEFAULT_LEAPFROG_STEPS)
    args = parser.parse_args()
    budget = dict(n_chains=args.chains, n_temperatures=args.temperatures, leapfrog_steps=args.leapfrog)
    data = vaelib.load_dataset("mnist5k")

    def model(design: str, d: int):
        config = vaelib.TrainConfig(design=design, dataset="mnist5k", latent_dim=d, epochs=args.epochs)
        return vaelib.load_or_train(config, data=data, progress=False).model.eval()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {vaelib.numerics.cpu_model()}, "
          f"numerics {vaelib.numerics.current().mode}; "
          f"AIS budget: {args.chains} chains x {args.temperatures} temperatures x {args.leapfrog} leapfrog steps "
          f"(sigmoid schedule)")
    try:
        import os
        print(f"load average before: {os.getloadavg()[0]:.1f} (wall-clock times count other jobs; CPU times do not)")
    except OSError:
        pass

    print(f"\ncost: seconds per 100 images (mean over {args.timing_images} mnist5k test images), "
          f"VAE trained {args.epochs} epochs")
    x_time = data.x_test[:args.timing_images]
    for d in (2, 8, 32):
        c = seconds_per_100_images(model("vae", d), x_time, **budget)
        print(f"  d = {d:>2}: {c['wall']:6.2f} s wall, {c['cpu']:6.2f} s CPU  (200 images: {2 * c['cpu']:5.1f} s CPU; "
              f"target <= 20 s)  acceptance {c['acceptance']:.2f}, chain spread {c['chain_spread']:.2f} nats")

    print(f"\naccuracy at d = 2 against exact quadrature, first {args.images} mnist5k test images (nats/image)")
    x_acc = data.x_test[:args.images]
    for design in ("vae", "ae"):
        a = accuracy_against_quadrature(model(design, 2), x_acc, **budget)
        print(f"  {design:<4} exact {a['exact']:9.3f}   AIS - exact {a['gap']:+.3f} +- {a['stderr']:.3f} (stderr)   "
              f"worst image {a['max_abs_error']:.2f}   chain spread {a['chain_spread']:.2f}")

    if args.long_run_images > 0:
        print(f"\nagainst 10x the temperatures ({10 * args.temperatures}), first {args.long_run_images} test images "
              "(nats/image; the long run is a lower bound too)")
        x_long = data.x_test[:args.long_run_images]
        for d in (8, 32):
            a = against_long_run(model("vae", d), x_long, **budget)
            print(f"  vae d = {d:>2}: long run {a['long_run']:9.3f}   default - long run {a['gap']:+.3f} +- "
                  f"{a['stderr']:.3f} (stderr)   long run's chain spread {a['long_run_spread']:.2f}")


if __name__ == "__main__":
    main()
