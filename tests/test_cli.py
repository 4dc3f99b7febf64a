"""python -m vaelib: help, a real training run, and one-line errors for bad input."""
import json
import subprocess
import sys

import pytest

from vaelib.cli import main


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "vaelib", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_help_lists_designs_regularisers_and_data_sets():
    out = run("train", "--help").stdout
    for word in ("vae", "mean-only", "wae-mmd", "swae", "sliced-wasserstein", "moments", "mnist5k", "two-moons",
                 "fashion-mnist"):
        assert word in out


def test_train_writes_a_checkpoint_and_prints_a_summary(tmp_path):
    r = run("train", "--design", "vae", "--dataset", "digits", "--latent-dim", "2", "--epochs", "2", "--seed", "0",
            "--hidden-dims", "32", "--out", str(tmp_path / "run"), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "samples/s" in r.stdout and "reconstruction" in r.stdout
    assert (tmp_path / "run" / "checkpoint.pt").exists()
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())["epoch_seconds"]) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--design", "gan"], "unknown design 'gan'"),
        (["--regulariser", "wasserstein"], "unknown regulariser 'wasserstein'"),
        (["--dataset", "cifar"], "unknown data set 'cifar'"),
        (["--latent-dim", "0"], "latent_dim must be > 0"),
        (["--weight", "-2"], "weight must be >= 0"),
        (["--sigma0", "0"], "sigma0 must be > 0"),
        (["--batch-size", "-1"], "batch_size must be > 0"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(args, message, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--dataset", "digits", "--epochs", "1", "--out", str(out), "--no-progress", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_existing_checkpoint_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"precious")
    code = main(["train", "--dataset", "digits", "--epochs", "1", "--out", str(out), "--no-progress"])
    assert code == 2 and "--overwrite" in capsys.readouterr().err
    assert (out / "checkpoint.pt").read_bytes() == b"precious"


def test_bad_input_through_the_real_process_has_no_traceback(tmp_path):
    r = run("train", "--design", "nope", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "unknown design 'nope'" in r.stderr
