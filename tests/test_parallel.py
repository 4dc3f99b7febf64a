"""vaelib.train_many: parallel workers train the same bits as sequential training, nothing twice, and stop cleanly."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import vaelib
from vaelib import TrainConfig, metrics, parallel
from vaelib.cache import TRAIN_LOG_ENV, cache_path, summarise_log
from vaelib.errors import VaelibError


def _configs(epochs: int = 2) -> list[TrainConfig]:
    return [TrainConfig(design=d, dataset="digits", latent_dim=4, hidden_dims=(32,), epochs=epochs, seed=s)
            for d in ("vae", "wae-mmd", "ae") for s in (0, 1)]


def _digest(model) -> str:
    h = hashlib.sha256()
    for v in model.state_dict().values():
        h.update(v.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def test_parallel_workers_train_the_same_bits_as_sequential_training(private_cache, tmp_path, monkeypatch):
    log = tmp_path / "train.jsonl"
    monkeypatch.setenv(TRAIN_LOG_ENV, str(log))
    configs = _configs()
    parallel_results = vaelib.train_many(configs, workers=2, progress=False)
    assert [r.config for r in parallel_results] == configs
    sequential = [vaelib.train(c, progress=False) for c in configs]
    assert [_digest(r.model) for r in parallel_results] == [_digest(r.model) for r in sequential]
    assert [r.history.test["total"] for r in parallel_results] == [r.history.test["total"] for r in sequential]
    counts = summarise_log(log)
    assert counts["trained"] == len(configs)
    pids = {json.loads(line)["pid"] for line in log.read_text().splitlines() if '"trained"' in line}
    assert os.getpid() not in pids and len(pids) == 2, "the models must have been trained by two worker processes"


def test_longest_first_orders_by_epochs_times_images_and_keeps_ties_in_order():
    short = [TrainConfig(design="vae", dataset="digits", epochs=30, seed=s) for s in range(3)]
    long = TrainConfig(design="vae", dataset="digits", epochs=200, seed=9)
    few_images = TrainConfig(design="vae", dataset="digits", epochs=60, n_train=500, seed=7)   # 30,000 image-epochs
    held_out = TrainConfig(design="vae", dataset="digits", epochs=30, validation_fraction=0.5, seed=8)
    order = parallel.longest_first([*short, few_images, held_out, long], whole_split=4000)
    assert order == [long, *short, held_out, few_images]
    assert parallel.estimated_cost(few_images) == 60 * 500
    assert parallel.estimated_cost(held_out, whole_split=1000) == 30 * 500


def test_workers_are_handed_the_longest_training_first(private_cache, tmp_path, monkeypatch):
    # in the order given, the long training (last) would be handed out after the short ones and could run alone
    # at the end; longest first, it is the first job sent. Which worker finishes when depends on the machine's
    # load (a worker still starting can leave the other one the short jobs too), so the test checks the order
    # the jobs are handed out in, not which process trained them.
    log = tmp_path / "train.jsonl"
    monkeypatch.setenv(TRAIN_LOG_ENV, str(log))
    short = [TrainConfig(design="ae", dataset="digits", latent_dim=4, hidden_dims=(32,), epochs=1, seed=s)
             for s in range(3)]
    long = TrainConfig(design="ae", dataset="digits", latent_dim=4, hidden_dims=(32,), epochs=12, seed=9)
    handed_out: list[list[TrainConfig]] = []
    run_workers = parallel._run_workers

    def recording(todo, *args, **kwargs):
        handed_out.append(list(todo))
        return run_workers(todo, *args, **kwargs)

    monkeypatch.setattr(parallel, "_run_workers", recording)
    results = vaelib.train_many([*short, long], workers=2, progress=False)
    assert handed_out == [[long, *short]]
    assert [r.config for r in results] == [*short, long]   # results keep the caller's order
    entries = [json.loads(line) for line in log.read_text().splitlines() if '"trained"' in line]
    assert sorted(e["seed"] for e in entries) == [0, 1, 2, 9] and len({e["pid"] for e in entries} - {os.getpid()}) >= 1


def test_nothing_is_trained_twice(private_cache, tmp_path, monkeypatch):
    log = tmp_path / "train.jsonl"
    monkeypatch.setenv(TRAIN_LOG_ENV, str(log))
    configs = _configs()[:3]
    vaelib.train_many(configs + configs[:1], workers=2, progress=False)   # a duplicate is trained once
    assert summarise_log(log)["trained"] == 3 and summarise_log(log)["loaded"] == 0
    log.unlink()
    again = vaelib.train_many(configs, workers=2, progress=False)
    assert summarise_log(log) == {"trained": 0, "loaded": 3, "train_seconds": 0.0, "train_flop": 0.0}
    assert [r.config for r in again] == configs


def test_workers_cache_the_evaluations_the_caller_asks_for(private_cache, digits, monkeypatch):
    configs = _configs()[:2]
    evaluate = {"n_samples": 200}
    vaelib.train_many(configs, workers=2, evaluate=evaluate, progress=False)
    for config in configs:
        assert metrics.evaluation_cache_path(config, digits, **evaluate).exists()
    # the caller's evaluate_cached now reads those records: make a fresh evaluation impossible
    monkeypatch.setattr(metrics, "evaluate", lambda *a, **k: pytest.fail("evaluated again"))
    record = metrics.evaluate_cached(vaelib.load_or_train(configs[0], data=digits), digits, **evaluate)
    assert record["recon_bce_nats"] > 0


def test_a_workers_error_is_raised_here_and_stops_the_others(private_cache):
    diverging = TrainConfig(design="vae", dataset="digits", latent_dim=4, hidden_dims=(32,), epochs=50, lr=1e9, seed=0)
    with pytest.raises(vaelib.TrainingDivergedError, match="loss became"):
        vaelib.train_many([diverging] + _configs()[:3], workers=2, progress=False)
    models = private_cache / "models"
    assert not models.exists() or (list(models.glob("*.tmp")) == [] and list(models.glob(".*")) == [])
    assert cache_path(diverging, private_cache).exists() is False


def test_one_worker_trains_in_this_process(private_cache, tmp_path, monkeypatch):
    log = tmp_path / "train.jsonl"
    monkeypatch.setenv(TRAIN_LOG_ENV, str(log))
    vaelib.train_many(_configs()[:2], workers=1, progress=False)
    pids = {json.loads(line)["pid"] for line in log.read_text().splitlines()}
    assert pids == {os.getpid()}


def test_bad_arguments_say_what_is_wrong(monkeypatch):
    with pytest.raises(VaelibError, match="workers must be a whole number >= 1, got 0"):
        vaelib.train_many(_configs()[:1], workers=0)
    with pytest.raises(VaelibError, match="train_many takes TrainConfigs, got dict"):
        vaelib.train_many([{"design": "vae"}])
    monkeypatch.setenv(parallel.WORKERS_ENV, "two")
    with pytest.raises(VaelibError, match=r"\$VAELIB_WORKERS must be a whole number >= 1, got 'two'"):
        parallel.default_workers()
    monkeypatch.setenv(parallel.WORKERS_ENV, "3")
    assert parallel.default_workers() == 3


#: Trains long models on two workers; the test interrupts it like Ctrl-C in a terminal (SIGINT to the group).
INTERRUPTED = r"""
import faulthandler
import signal
import sys
faulthandler.register(signal.SIGUSR1, all_threads=True)   # the test asks for a traceback if the interrupt hangs
import vaelib
configs = [vaelib.TrainConfig(design="vae", dataset="digits", latent_dim=4, hidden_dims=(32,), epochs=e, seed=s)
           for s, e in ((0, 2), (1, 2), (2, 100_000), (3, 100_000), (4, 100_000))]   # minutes each: still running
if __name__ == "__main__":
    try:
        # the short ones first, in a call of their own: train_many takes the longest trainings first
        vaelib.train_many(configs[:2], workers=2, progress=False)
        vaelib.train_many(configs[2:], workers=2, progress=False)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
    print("finished", flush=True)
"""


def _start_long_training(cache: Path, tmp_path: Path, output: int) -> subprocess.Popen:
    """Run :data:`INTERRUPTED` in a session of its own; return once its two short models are cached."""
    script = tmp_path / "interrupted.py"
    script.write_text(INTERRUPTED)
    env = {**os.environ, "VAELIB_CACHE_DIR": str(cache)}
    # As a shell starts a foreground job: SIGINT at its default, whatever this test process inherited (a process
    # started with SIGINT ignored, as by some launchers, passes that on, and its Python never raises KeyboardInterrupt)
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=output, stderr=output,
                            text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(list((cache / "models").glob("*.pt"))) < 2:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    return proc


def _signal_states(pid: int) -> dict[str, str]:
    """Each thread of process ``pid``: its ignored, blocked and caught signal masks, as /proc shows them."""
    states = {}
    for task in sorted(Path(f"/proc/{pid}/task").glob("*")):
        try:
            fields = dict(line.split(":\t", 1) for line in (task / "status").read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        states[f"{fields.get('Name', '?').strip()}/{task.name}"] = " ".join(
            f"{k}={fields.get(k, '?').strip()}" for k in ("SigIgn", "SigBlk", "SigCgt"))
    return states


@pytest.mark.parametrize("target", ["the process group (Ctrl-C in a terminal)", "the parent only (a Jupyter interrupt)"])
def test_ctrl_c_stops_every_worker_and_leaves_only_complete_checkpoints(private_cache, tmp_path, target):
    proc = _start_long_training(private_cache, tmp_path, subprocess.PIPE)
    models = private_cache / "models"
    time.sleep(1.0)   # the long models are now mid-training
    if target.startswith("the process group"):
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:   # the interrupt did not stop it: say where it hangs, then stop it
        states = _signal_states(proc.pid)
        os.kill(proc.pid, signal.SIGUSR1)
        time.sleep(2.0)
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"still running 60 s after the interrupt; signal masks (hex bit n-1 = signal n, SIGINT = 2) "
                    f"of its threads: {states}; of this test process: {_signal_states(os.getpid())}; "
                    f"its threads then:\n{err[-6000:]}")
    assert proc.returncode == 130 and "interrupted" in out, (proc.returncode, out, err[-2000:])
    assert list(models.glob("*.tmp")) == [] and list(models.glob(".*")) == []
    done = sorted(models.glob("*.pt"))
    assert len(done) == 2   # the short models; the long ones were stopped mid-training
    deadline = time.monotonic() + 10   # multiprocessing's resource tracker exits just after its parent
    while (left := subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], f"processes still running 10 s after the interrupt: {left}"
    short = [TrainConfig(design="vae", dataset="digits", latent_dim=4, hidden_dims=(32,), epochs=2, seed=s)
             for s in (0, 1)]
    for config in short:
        path = cache_path(config, private_cache)
        assert path in done
        vaelib.load_checkpoint(path, expected_config=config)   # complete and loadable
    assert not any(Path(p).stat().st_size == 0 for p in done)


def test_a_callers_own_split_is_trained_here_not_in_workers(private_cache, tmp_path, monkeypatch):
    """Workers load the split a config names; another split of the same data set must not reach them."""
    log = tmp_path / "train.jsonl"
    monkeypatch.setenv(TRAIN_LOG_ENV, str(log))
    other_split = vaelib.load_dataset("digits", seed=3)
    results = vaelib.train_many(_configs()[:2], data=other_split, workers=2, progress=False)
    pids = {json.loads(line)["pid"] for line in log.read_text().splitlines()}
    assert pids == {os.getpid()}
    assert [_digest(r.model) for r in results] == [_digest(vaelib.train(c, other_split, progress=False).model)
                                                    for c in _configs()[:2]]


def test_a_split_is_the_default_one_when_its_specification_is(digits):
    """Workers rebuild a config's data set from its fields: only data with that very specification may go to them."""
    config = TrainConfig(dataset="digits", latent_dim=2, n_train=300)
    assert parallel._is_default_split(digits, config)
    assert parallel._is_default_split(vaelib.load_dataset("digits", n_points=50), config)   # n_points: not for images
    assert not parallel._is_default_split(vaelib.load_dataset("digits", seed=3), config)
    assert not parallel._is_default_split(vaelib.load_dataset("digits", test_fraction=0.3), config)
    assert not parallel._is_default_split(vaelib.data.training_view(digits, config), config)
    by_hand = vaelib.Dataset("digits", digits.x_train, digits.y_train, digits.x_test, digits.y_test, (8, 8), None, "")
    assert not parallel._is_default_split(by_hand, config)
    moons = TrainConfig(dataset="two-moons", latent_dim=2)
    assert parallel._is_default_split(vaelib.load_dataset("two-moons"), moons)
    assert not parallel._is_default_split(vaelib.load_dataset("two-moons", n_points=500), moons)


def test_workers_end_when_their_parent_is_killed_outright(private_cache, tmp_path):
    """SIGKILL leaves the parent no chance to stop its workers: each worker must notice and end by itself."""
    proc = _start_long_training(private_cache, tmp_path, subprocess.DEVNULL)   # the long models have started
    workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "multiprocessing.spawn"],
                                              capture_output=True, text=True).stdout.split()]
    assert len(workers) >= 2, "expected the two worker processes of train_many"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while (left := [p for p in workers if Path(f"/proc/{p}").exists()
                    and Path(f"/proc/{p}/stat").read_text().split()[2] != "Z"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    try:
        assert left == [], f"workers still running 10 s after their parent was killed: {left}"
    finally:
        subprocess.run(["pkill", "-KILL", "-g", str(proc.pid)])
