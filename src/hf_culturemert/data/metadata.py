"""The packaged dataset metadata (``hf_culturemert/resources/data``) and the CultureMERT citation.

The lowest module of ``hf_culturemert.data``: the registry and the synthetic corpus both read the real vocabularies
from here, so neither has to import the other's private parts.
"""

import json
from functools import lru_cache
from importlib import resources

CULTUREMERT_CITATION = """@article{kanatas2025culturemert,
  title={CultureMERT: Continual Pre-Training for Cross-Cultural Music Representation Learning},
  author={Kanatas, Angelos-Nikolaos and Papaioannou, Charilaos and Potamianos, Alexandros},
  journal={arXiv preprint arXiv:2506.17818},
  year={2025}
}"""

SYNTHETIC_CITATION = CULTUREMERT_CITATION


def resource_path(*parts):
    """Path of a packaged metadata file, e.g. ``resource_path("splits", "makam", "train.txt")``."""
    return resources.files("hf_culturemert").joinpath("resources", "data", *parts)


@lru_cache(maxsize=None)
def real_vocabularies() -> dict:
    """ccml's top-N tag lists of the real datasets, ``{dataset: {"tags": [...], ...}}`` (see PROVENANCE.md)."""
    return json.loads(resource_path("tags", "vocabularies.json").read_text(encoding="utf-8"))
