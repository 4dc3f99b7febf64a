"""vaelib.config: every design names a known head and regulariser; differences between configs name every field."""
import pytest

from vaelib import TrainConfig
from vaelib.config import DESIGNS, HEADS, Design
from vaelib.errors import UnknownNameError
from vaelib.regularisers import REGULARISERS


def test_every_design_names_a_head_and_a_regulariser_that_exist():
    assert {d.head for d in DESIGNS.values()} == set(HEADS)
    assert {d.regulariser for d in DESIGNS.values()} <= set(REGULARISERS)
    with pytest.raises(UnknownNameError, match="unknown head 'sampled'; accepted: 'deterministic'"):
        Design("x", "sampled", "kl", 1.0, "a head that does not exist")
    with pytest.raises(UnknownNameError, match="unknown regulariser 'kld'"):
        Design("x", "gaussian", "kld", 1.0, "a regulariser that does not exist")


def test_the_regulariser_weight_is_the_explicit_weight_else_the_designs_default():
    assert TrainConfig(design="wae-mmd").regulariser_weight == DESIGNS["wae-mmd"].default_weight == 100.0
    assert TrainConfig(design="vae", weight=4.0).regulariser_weight == 4.0   # the VAE's beta


def test_differences_name_every_field_also_those_to_dict_leaves_out():
    a = TrainConfig(dataset="digits", hidden_dims=(32,))
    b = a.replace(hidden_dims=(16, 8), n_train=300)
    assert a.differences(b) == {"hidden_dims": ([32], [16, 8]), "n_train": (None, 300)}
    assert b.differences(a) == {"hidden_dims": ([16, 8], [32]), "n_train": (300, None)}
    assert a.differences(a.replace()) == {}
