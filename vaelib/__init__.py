"""vaelib: one controlled family of auto-encoders for the book "Why sample z?".

The designs differ only in the encoder head and the regulariser on z; data, trunk,
decoder, optimiser, budget and seed are shared. Loss reduction everywhere: sum over
pixels and latent dimensions, mean over the batch; losses are in nats.
"""
from __future__ import annotations

__version__ = "0.5.0"

# First of all, before torch loads numpy: numpy's and scipy's own OpenBLAS (the mixture fits of the
# metrics, in float64) read their core type when they are loaded. Under canonical numerics they run the
# same AVX2 kernels as vaelib's matrix products (vaelib.blas), unless the environment already says otherwise.
import os as _os

if _os.environ.get("VAELIB_NUMERICS", "auto").strip().lower() in ("auto", "canonical"):
    _os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")

# Then, before anything runs a torch operation: MKL's branch and torch's kernels are fixed by
# the first one (vaelib.numerics; $VAELIB_NUMERICS = auto / canonical / native).
from . import numerics
from .errors import UnknownNameError as _UnknownNameError

try:
    numerics.apply()
except _UnknownNameError as _error:  # an unknown $VAELIB_NUMERICS: one line, without the import chain
    raise _UnknownNameError(str(_error)) from None

from .cache import load_or_train
from .checkpoint import load_checkpoint, save_checkpoint
from .config import DESIGNS, TrainConfig
from .data import DATASETS, OFFLINE_DATASETS, Dataset, load_dataset
from .errors import CheckpointError, DataUnavailableError, TrainingDivergedError, UnknownNameError, VaelibError
from .models import AutoEncoder, Encoding, LossTerms, build_model
from .parallel import train_many
from .regularisers import REGULARISERS
from .training import History, TrainResult, train

__all__ = [
    "__version__", "AutoEncoder", "CheckpointError", "DATASETS", "DESIGNS", "DataUnavailableError", "Dataset",
    "Encoding", "History", "LossTerms", "OFFLINE_DATASETS", "REGULARISERS", "TrainConfig", "TrainResult",
    "TrainingDivergedError", "UnknownNameError", "VaelibError", "build_model", "load_checkpoint", "load_dataset",
    "load_or_train", "numerics", "save_checkpoint", "train", "train_many",
]
