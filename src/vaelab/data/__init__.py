"""Data: find, read, split and binarise image datasets (see DESIGN.md, "Data")."""

from vaelab.data import dsprites, shapes  # noqa: F401  (register the factor data sets)
from vaelab.data.datasets import (
    DATASETS,
    Dataset,
    DatasetInfo,
    ImageSet,
    dataset_report,
    holdout_indices,
    load_images,
)
from vaelab.data.files import parse_kaggle_csv, parse_npz
from vaelab.data.idx import parse_idx, read_idx, read_idx_header
from vaelab.data.locate import (
    IDX_FILES,
    download_idx_dataset,
    find_idx_dataset,
    locate_idx_dataset,
    search_folders,
)
from vaelab.data.prepare import (
    BINARIZE_MODES,
    PreparedData,
    TensorSplit,
    binarize_batch,
    fixed_binarization,
    prepare_data,
    split_indices,
)

__all__ = [
    "BINARIZE_MODES", "DATASETS", "Dataset", "DatasetInfo", "IDX_FILES", "ImageSet",
    "PreparedData", "TensorSplit", "binarize_batch", "dataset_report", "download_idx_dataset",
    "find_idx_dataset", "fixed_binarization", "holdout_indices", "load_images",
    "locate_idx_dataset", "parse_idx", "parse_kaggle_csv", "parse_npz", "prepare_data",
    "read_idx", "read_idx_header", "search_folders", "split_indices",
]
