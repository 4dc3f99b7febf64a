"""Time of one full ``vaelib.metrics.evaluate`` on the mnist5k test split, per metric group.

Target (issue 3): <= 5 s for one model, all metrics, on a 2-core CPU. The feature
classifier is trained once and cached (as in the notebooks); its training time is
reported separately. Models: a VAE and a plain AE (latent 16, 30 epochs), loaded from
the load-or-train cache or trained first.

Run: .venv/bin/python benchmarks/evaluate_time.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

import vaelib
from vaelib import metrics
from vaelib.metrics.classifier import load_or_train_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = vaelib.load_dataset("mnist5k")
    start = time.perf_counter()
    clf = load_or_train_classifier(data)
    print(f"feature classifier: {time.perf_counter() - start:.1f} s (cached after the first run)")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; mnist5k test split "
          f"({len(data.x_test)} images), 1,000 samples per sampler, IWAE k = 50; median of {args.repeats}")
    for design in ("vae", "ae"):
        result = vaelib.load_or_train(vaelib.TrainConfig(design=design, latent_dim=16, epochs=30), data=data,
                                      progress=False)
        runs: list[dict[str, float]] = []
        for _ in range(args.repeats):
            timings: dict[str, float] = {}
            t0 = time.perf_counter()
            metrics.evaluate(result, data, feature_classifier=clf, timings=timings)
            timings["total"] = time.perf_counter() - t0
            runs.append(timings)
        print(f"\n{design}: seconds per metric group")
        for key in runs[0]:
            print(f"  {key:<12} {statistics.median(r[key] for r in runs):6.2f}")
        total = statistics.median(r["total"] for r in runs)
        print(f"  => total {total:.2f} s (target <= 5 s): {'met' if total <= 5 else 'NOT met'}")


if __name__ == "__main__":
    main()
