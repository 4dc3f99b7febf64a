"""Train (and evaluate) independent models in parallel: one worker process per core, one thread each.

The book's bulk is independent trainings (designs x latent dims x seeds, sweeps). Their
matrices are too small for two threads to share one model well, so :func:`train_many`
gives each model a process of its own with one thread (on 2 cores, two 1-thread
processes train about 1.3x as many samples per second as one 2-thread process).

Results are those of sequential training: each worker trains with :func:`vaelib.train`
under the numerics of the parent process, so under canonical numerics (one thread
anyway) every model is the very same bits as ``load_or_train`` in the parent
(``tests/test_parallel.py``). Under native numerics a worker uses one thread where the
parent would use every core, so results agree up to the seed spread, as native results do.

Models already in the cache are loaded, never trained again; each checkpoint is written
atomically by the worker that trained it, so two workers (or two notebooks) finishing at
once cannot corrupt an entry. Ctrl-C stops every worker and removes their unfinished
temporary files (:func:`vaelib.store.clean`): the cache then holds only complete checkpoints.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from . import store
from .cache import cache_path, load_or_train
from .checkpoint import load_checkpoint
from .config import TrainConfig
from .data import Dataset, dataset_for, split_for
from .errors import VaelibError
from .training import TrainResult

#: Environment variable that sets the number of worker processes (default: the CPU cores available).
WORKERS_ENV = "VAELIB_WORKERS"


def default_workers() -> int:
    """Worker processes :func:`train_many` uses: ``$VAELIB_WORKERS`` if set, else the CPU cores this process may use."""
    raw = os.environ.get(WORKERS_ENV)
    if raw:
        try:
            value = int(raw)
        except ValueError:
            raise VaelibError(f"${WORKERS_ENV} must be a whole number >= 1, got {raw!r}") from None
        if value < 1:
            raise VaelibError(f"${WORKERS_ENV} must be a whole number >= 1, got {raw!r}")
        return value
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _is_default_split(data: Dataset, config: TrainConfig) -> bool:
    """True when ``data`` is the split ``config`` names (:func:`vaelib.data.dataset_for`), by their specifications."""
    return data.split is not None and data.split == split_for(config)


#: The evaluations :func:`train_many` caches: keyword arguments of :func:`vaelib.metrics.evaluate_cached`, each.
Evaluations = list[dict[str, Any]]


def _as_evaluations(evaluate: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None) -> Evaluations:
    """``evaluate`` as a list of keyword-argument dicts: one mapping is one evaluation, None is none."""
    if evaluate is None:
        return []
    if isinstance(evaluate, Mapping):
        return [dict(evaluate)]
    return [dict(e) for e in evaluate]


def _train_and_evaluate(config: TrainConfig, data: Dataset, cache_dir: str | Path | None,
                        evaluations: Evaluations) -> None:
    """Train (or load) the model of ``config`` into the cache, then cache each of its ``evaluations``."""
    result = load_or_train(config, data=data, cache_dir=cache_dir, progress=False)
    if evaluations:
        from .metrics import evaluate_cached

        for kwargs in evaluations:
            evaluate_cached(result, data, cache_dir=cache_dir, **kwargs)


def _worker_job(config_json: str, cache_dir: str | None, evaluations: Evaluations) -> None:
    """In a worker: :func:`_train_and_evaluate` on the data set the config names."""
    config = TrainConfig.from_dict(json.loads(config_json))
    _train_and_evaluate(config, dataset_for(config), cache_dir, evaluations)


def _remove_partial_files(cache_dir: str | Path | None) -> None:
    """Delete the temporary files that stopped workers left in the cache's folders (:func:`vaelib.store.clean`)."""
    root = store.cache_root(cache_dir)
    if root.is_dir():
        for folder in root.iterdir():
            store.clean(folder)


def _pending(configs: Sequence[TrainConfig], data: Dataset | None, cache_dir: str | Path | None,
             evaluations: Evaluations) -> list[TrainConfig]:
    """The distinct configs whose model, or one of whose ``evaluations``' records, is not cached yet."""
    from .metrics import evaluation_cache_path

    out, seen, datasets = [], set(), {}
    for config in configs:
        key = config.to_json()
        if key in seen:
            continue
        seen.add(key)
        missing = not cache_path(config, cache_dir).exists()
        if not missing and evaluations:
            split = split_for(config)
            if split not in datasets:
                datasets[split] = data if data is not None else dataset_for(config)
            missing = not all(evaluation_cache_path(config, datasets[split], cache_dir=cache_dir, **kwargs).exists()
                              for kwargs in evaluations)
        if missing:
            out.append(config)
    return out


#: Training images of a config that trains on its whole split, when no data set is at hand to count them:
#: mnist5k's 4,000, the book's data set. Only the order in which workers take models depends on it.
WHOLE_SPLIT_IMAGES = 4000


def estimated_cost(config: TrainConfig, whole_split: int = WHOLE_SPLIT_IMAGES) -> float:
    """Relative cost of training ``config``: its epochs (the most it may run) times the images it trains on.

    ``whole_split`` is the size of the training split of its data set (images); ``config.n_train`` and
    ``config.validation_fraction`` cut it. In image-epochs; used only to hand the longest trainings
    to the workers first.
    """
    images = config.n_train if config.n_train is not None else whole_split * (1.0 - config.validation_fraction)
    return float(config.epochs) * float(images)


def longest_first(configs: Sequence[TrainConfig], whole_split: int = WHOLE_SPLIT_IMAGES) -> list[TrainConfig]:
    """``configs`` ordered by :func:`estimated_cost`, the longest first; equal costs keep their order.

    The schedule of :func:`train_many`'s workers (longest processing time first): one long
    training handed out last would leave every other worker idle while it runs alone. A model's
    bits do not depend on which worker trains it, or when.
    """
    return sorted(configs, key=lambda c: -estimated_cost(c, whole_split))


def train_many(
    configs: Sequence[TrainConfig],
    *,
    data: Dataset | None = None,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    evaluate: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    progress: bool = True,
) -> list[TrainResult]:
    """Train (or load from the cache) every model of ``configs``; return their TrainResults, in order.

    Models not in the cache are trained by ``workers`` processes (default
    :func:`default_workers`, capped by the number of models to train), each with one
    thread, the longest trainings first (:func:`longest_first`), and written to the cache;
    then every result is loaded in this process.
    With ``evaluate`` (keyword arguments of :func:`vaelib.metrics.evaluate_cached`, e.g.
    ``{"n_samples": 1000}``, or a list of such dicts for several evaluations) the workers also
    compute and cache each model's evaluations, so that the caller's ``evaluate_cached`` calls
    find them. Duplicate configs are trained once.

    ``data``: the data set for the models (default: the one each config names, as
    :func:`vaelib.train` loads it). Workers always load the data set a config names, so a
    ``data`` that differs from it (a custom split) is trained here, sequentially. Progress:
    one bar over the models to train. Ctrl-C (KeyboardInterrupt) stops all workers, removes
    their unfinished files and re-raises; finished models stay cached.
    """
    configs = list(configs)
    for config in configs:
        if not isinstance(config, TrainConfig):
            raise VaelibError(f"train_many takes TrainConfigs, got {type(config).__name__}")
    evaluations = _as_evaluations(evaluate)
    todo = _pending(configs, data, cache_dir, evaluations)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise VaelibError(f"workers must be a whole number >= 1, got {workers!r}")
    n_workers = min(workers if workers is not None else default_workers(), len(todo))
    # workers load the split a config names; a caller's own split (other name, seed or images) is trained here
    own_data = data is not None and any(not _is_default_split(data, c) for c in todo)
    if todo and (n_workers <= 1 or own_data):
        for config in tqdm(todo, desc="training", disable=not progress):
            _train_and_evaluate(config, data if data is not None else dataset_for(config), cache_dir, evaluations)
    elif todo:
        whole_split = data.x_train.shape[0] if data is not None else WHOLE_SPLIT_IMAGES
        _run_workers(longest_first(todo, whole_split), n_workers, cache_dir, evaluations, progress)
    trained = {c.to_json() for c in todo}   # logged as trained by whoever trained them; not as loaded again
    return [load_checkpoint(cache_path(c, cache_dir), expected_config=c) if c.to_json() in trained
            else load_or_train(c, data=data, cache_dir=cache_dir, progress=False) for c in configs]


def _worker_main(conn: Connection, cache_dir: str | None, evaluations: Evaluations) -> None:
    """A worker process: one thread, Ctrl-C left to the parent; trains the configs it receives until told to stop.

    Receives a config as JSON (``None``: stop) and answers ``None`` when it is cached, or the
    error it raised.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the parent decides what an interrupt stops
    parent = multiprocessing.parent_process()
    if parent is not None:   # a parent killed outright (SIGTERM, SIGKILL) cannot stop its workers: they stop themselves
        threading.Thread(target=_exit_when_ended, args=(parent.sentinel,), daemon=True,
                         name="vaelib-parent-watch").start()
    import vaelib  # noqa: F401  (applies $VAELIB_NUMERICS, inherited from the parent)

    torch.set_num_threads(1)
    while (job := conn.recv()) is not None:
        try:
            _worker_job(job, cache_dir, evaluations)
        except Exception as error:  # noqa: BLE001 - every error goes back to the parent, which raises it
            conn.send(_portable(error))
        else:
            conn.send(None)


def _exit_when_ended(parent_sentinel: int) -> None:
    """In a worker's watch thread: end this worker at once when its parent process has ended.

    Its unfinished temporary files are removed by the next write to the cache
    (:func:`vaelib.store.clean` removes those of processes no longer running).
    """
    wait([parent_sentinel])
    os._exit(1)


def _portable(error: Exception) -> Exception:
    """``error`` if it survives pickling (e.g. TrainingDivergedError, VaelibError), else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(error).__name__}: {error}")


def _stop(processes: Sequence[multiprocessing.process.BaseProcess], grace: float = 5.0, *,
          terminate: bool = True) -> None:
    """Wait for ``processes`` to end (``terminate``: after asking them to), at most ``grace`` seconds; then kill."""
    for process in processes:
        if terminate and process.is_alive():
            process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


def _run_workers(todo: list[TrainConfig], n_workers: int, cache_dir: str | Path | None,
                 evaluations: Evaluations, progress: bool) -> None:
    """Train ``todo`` on ``n_workers`` fresh processes, each fed the next config (in order) when it finishes one.

    A worker's error is raised here (after every worker is stopped); so is the death of a worker.
    Ctrl-C (or any exception here) terminates every worker, removes their unfinished temporary
    files and re-raises. Only public multiprocessing APIs: a pipe per worker, its sentinel.
    """
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: numerics applied at import, no forked state
    cache = str(cache_dir) if cache_dir is not None else None
    queue = list(enumerate(todo))[::-1]               # popped from the end: in order
    workers: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
    busy: dict[Connection, tuple[multiprocessing.process.BaseProcess, TrainConfig]] = {}
    try:
        for _ in range(n_workers):
            parent_end, child_end = context.Pipe()
            process = context.Process(target=_worker_main, args=(child_end, cache, evaluations), daemon=True,
                                      name="vaelib-worker")
            process.start()
            child_end.close()
            workers.append((process, parent_end))
        with tqdm(total=len(todo), desc=f"training ({n_workers} workers)", disable=not progress) as bar:
            for process, conn in workers:
                if queue:
                    _, config = queue.pop()
                    conn.send(config.to_json())
                    busy[conn] = (process, config)
            while busy:
                sentinels = {process.sentinel: conn for conn, (process, _) in busy.items()}
                for ready in wait(list(busy) + list(sentinels)):
                    conn = ready if ready in busy else sentinels[ready]
                    if conn not in busy:
                        continue   # its message and its exit arrived together: handled already
                    process, config = busy.pop(conn)
                    try:
                        answer = conn.recv()
                    except EOFError:
                        raise VaelibError(f"a worker process died (exit code {process.exitcode}) while training "
                                          f"{config.design} z={config.latent_dim} seed {config.seed}; "
                                          f"out of memory? Try VAELIB_WORKERS=1") from None
                    if answer is not None:
                        raise answer   # a worker's error (e.g. TrainingDivergedError), raised here
                    bar.update()
                    if queue:
                        _, config = queue.pop()
                        conn.send(config.to_json())
                        busy[conn] = (process, config)
        for _, conn in workers:
            conn.send(None)
        _stop([process for process, _ in workers], grace=30.0, terminate=False)   # they exit on None
    except BaseException:
        _stop([process for process, _ in workers])
        _remove_partial_files(cache_dir)
        raise
    finally:
        for _, conn in workers:
            conn.close()


__all__ = ["WHOLE_SPLIT_IMAGES", "WORKERS_ENV", "default_workers", "estimated_cost", "longest_first", "train_many"]
