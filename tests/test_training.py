"""Training: every design learns, runs are bit-identical, divergence and bad data are caught."""
import math

import pytest
import torch

import vaelib
from vaelib import DESIGNS, TrainConfig, train
from vaelib.data import Dataset
from vaelib.errors import TrainingDivergedError, VaelibError


def small(design, **kw):
    base = dict(design=design, dataset="digits", latent_dim=4, hidden_dims=(64,), epochs=4, batch_size=64, seed=0)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("design", list(DESIGNS))
def test_every_design_trains_and_its_test_loss_falls(design, digits):
    h = train(small(design), digits, progress=False).history
    assert h.epochs == 4
    for split in ("train", "test"):
        for term in vaelib.training.TERMS:
            assert len(getattr(h, split)[term]) == 4 and all(math.isfinite(v) for v in getattr(h, split)[term])
    assert h.test["total"][-1] < 0.9 * h.test["total"][0]
    assert h.test["reconstruction"][-1] < h.test["reconstruction"][0]
    assert h.samples_per_second > 0 and h.train_seconds > 0


def test_regulariser_term_is_logged_and_used():
    h = train(small("wae-mmd"), vaelib.load_dataset("digits"), progress=False).history
    assert all(v != 0 for v in h.train["regulariser"])
    assert h.train["total"][0] == pytest.approx(h.train["reconstruction"][0] + 100.0 * h.train["regulariser"][0],
                                                rel=1e-4)
    h_ae = train(small("ae"), vaelib.load_dataset("digits"), progress=False).history
    assert h_ae.train["regulariser"] == [0.0] * 4


def test_same_seed_gives_a_bit_identical_history_and_weights(digits):
    a = train(small("vae"), digits, progress=False)
    b = train(small("vae"), digits, progress=False)
    assert a.history.train == b.history.train and a.history.test == b.history.test
    for (k, v), (_, w) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(v, w), k
    c = train(small("vae", seed=1), digits, progress=False)
    assert c.history.train != a.history.train


def test_nan_guard_names_epoch_and_step(digits):
    with pytest.raises(TrainingDivergedError, match=r"at epoch 1, step \d+"):
        train(small("vae", lr=1e12, epochs=2), digits, progress=False)


def _with(data: Dataset, x_train: torch.Tensor) -> Dataset:
    return Dataset(name=data.name, x_train=x_train, y_train=data.y_train, x_test=data.x_test, y_test=data.y_test,
                   image_shape=data.image_shape, intrinsic_dim=data.intrinsic_dim, description=data.description)


def test_data_with_nan_is_rejected(digits):
    x = digits.x_train.clone()
    x[3, 5] = float("nan")
    with pytest.raises(VaelibError, match="NaN"):
        train(small("vae"), _with(digits, x), progress=False)


def test_data_outside_unit_interval_is_rejected_under_bernoulli_but_not_gaussian(digits):
    x = digits.x_train * 16  # the raw 0..16 scale of sklearn's digits
    with pytest.raises(VaelibError, match=r"\[0, 1\]"):
        train(small("vae"), _with(digits, x), progress=False)
    h = train(small("vae", likelihood="gaussian", epochs=1), _with(digits, x), progress=False).history
    assert math.isfinite(h.test["total"][0])


def test_gaussian_likelihood_on_a_toy_set():
    data = vaelib.load_dataset("two-moons", n_points=400)
    h = train(TrainConfig(design="vae", dataset="two-moons", latent_dim=2, hidden_dims=(32,), epochs=5,
                          likelihood="gaussian", sigma_x=0.05, n_points=400), data, progress=False).history
    assert h.test["total"][-1] < h.test["total"][0]


def test_zero_epochs_gives_an_untrained_model_and_empty_history(digits):
    r = train(small("ae", epochs=0), digits, progress=False)
    assert r.history.epochs == 0 and r.history.final() == {} and r.history.samples_per_second == 0.0


def test_history_frame(digits):
    df = train(small("ae", epochs=2), digits, progress=False).history.to_frame()
    assert list(df.index) == [1, 2]
    assert {"train_total", "test_reconstruction", "seconds"} <= set(df.columns)


def test_matmul_flop_counts_every_layer_forward_and_backward_but_the_datas_gradient():
    from vaelib.training import History, matmul_flop

    model = vaelib.build_model(TrainConfig(design="vae", latent_dim=16), 784)
    history = History(n_train=100, n_test=10, epoch_seconds=[1.0, 1.0])
    layers = [(784, 400), (400, 32), (16, 400), (400, 784)]   # trunk, head (mean and log-variance), decoder
    forward = sum(2 * a * b for a, b in layers)
    backward = 2 * forward - 2 * 784 * 400                     # no gradient for the images themselves
    assert matmul_flop(model, history) == 2 * (100 * (forward + backward) + 10 * forward)


def test_early_stopping_stops_when_validation_stalls_and_keeps_the_best_epochs_weights(digits):
    from vaelib.data import validation_view
    from vaelib.training import evaluate_loss

    config = TrainConfig(design="vae", dataset="digits", latent_dim=4, hidden_dims=(32,), epochs=400,
                         validation_fraction=0.2, patience=5)
    result = train(config, digits, progress=False)
    h = result.history
    assert h.epochs < 400, "the validation loss never stalled in 400 epochs"
    assert h.epochs - h.best_epoch == 5 and len(h.validation["total"]) == h.epochs
    best = h.validation["total"][h.best_epoch - 1]
    assert best == min(h.validation["total"]) and all(v > best for v in h.validation["total"][h.best_epoch:])
    # the weights returned are the best epoch's: scoring them again gives the recorded validation loss
    x_val = validation_view(digits, config).x_test
    assert evaluate_loss(result.model, x_val, config.batch_size, seed=config.seed + 3)["total"] == best
    # without patience the same run records validation losses but trains every epoch and keeps the last weights
    full = train(config.replace(patience=None, epochs=h.epochs), digits, progress=False)
    assert full.history.best_epoch == full.history.epochs == h.epochs
    assert full.history.validation == h.validation


def test_history_records_each_units_kl_per_epoch_for_stochastic_encoders(digits):
    vae = train(TrainConfig(design="vae", dataset="digits", latent_dim=4, hidden_dims=(32,), epochs=3), digits,
                progress=False).history
    assert len(vae.unit_kl) == 3 and all(len(units) == 4 for units in vae.unit_kl)
    # the units' KLs add up to the ELBO's KL term on the test split (the VAE's regulariser at beta = 1)
    assert sum(vae.unit_kl[-1]) == pytest.approx(vae.test["regulariser"][-1], rel=1e-4)
    ae = train(TrainConfig(design="ae", dataset="digits", latent_dim=4, hidden_dims=(32,), epochs=2), digits,
               progress=False).history
    assert ae.unit_kl == [] and ae.validation == {} and ae.best_epoch == 2
