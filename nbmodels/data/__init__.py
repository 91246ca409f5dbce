"""Datasets by name: embedded ones that work offline, generated ones with known ground
truth, and downloaded ones that say so, and name an offline alternative, when they fail.

A `Dataset` holds arrays in memory (features may be a dict of named arrays, targets may be
None), or a Source read by index (`LazySource`, for sets too large for memory) or a
`tf.data.Dataset`: see `nbmodels.data.sources`.

Importing this package is cheap: scikit-learn and Keras are imported only by the loaders
that need them.

Example:

>>> from nbmodels import data
>>> [(info.name, info.source) for info in data.list_datasets()][:3]
[('digits', 'embedded'), ('python_docs', 'embedded'), ('linear_regression', 'generated')]
>>> ds = data.load("digits", validation_split=0.2, seed=0)
>>> ds
Dataset(digits: classification, train x (1438, 64) float32 -> y (1438,) int32, validation 359, 10 classes, source embedded)
"""

from nbmodels.data.network import DownloadError, data_dir, fetch
from nbmodels.data.images.arrays import as_images
from nbmodels.data.images.augmentation import augmentation
from nbmodels.data.images.folder import image_folder
from nbmodels.data.registry import Dataset, DatasetInfo, list_datasets, load, register
from nbmodels.data.sources import ArraySource, LazySource, Source, TFDataSource
from nbmodels.data.text import CharTokenizer, load_text, text_corpus

# Importing these registers each family's datasets; list_datasets() shows offline ones first.
from nbmodels.data import synthetic  # noqa: E402,F401  isort: skip
from nbmodels.data.images import datasets as _images  # noqa: E402,F401  isort: skip
from nbmodels.data.images import marker as _marker  # noqa: E402,F401  isort: skip
from nbmodels.data.text import datasets as _text  # noqa: E402,F401  isort: skip
from nbmodels.data import recsys as _recsys  # noqa: E402,F401  isort: skip

__all__ = [
    "ArraySource",
    "CharTokenizer",
    "Dataset",
    "DatasetInfo",
    "DownloadError",
    "LazySource",
    "Source",
    "TFDataSource",
    "as_images",
    "augmentation",
    "data_dir",
    "fetch",
    "image_folder",
    "list_datasets",
    "load",
    "load_text",
    "register",
    "text_corpus",
]
