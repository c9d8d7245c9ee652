"""Local models: the catalog of model files, the on-disk cache, and downloading into it."""

from graphflow.models.cache import CACHE_ENV, ModelCache, ModelCorrupt, ModelMissing, default_cache_dir
from graphflow.models.catalog import CATALOG, OFFLINE_DEFAULT, ModelFile, ModelSpec
from graphflow.models.download import DownloadFailed, download
from graphflow.models.hub import ModelHub

__all__ = [
    "CACHE_ENV",
    "CATALOG",
    "OFFLINE_DEFAULT",
    "DownloadFailed",
    "ModelCache",
    "ModelCorrupt",
    "ModelFile",
    "ModelHub",
    "ModelMissing",
    "ModelSpec",
    "default_cache_dir",
    "download",
]
