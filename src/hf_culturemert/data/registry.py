"""Registry of the evaluation datasets (and of the synthetic traditions): Hub ids, vocabularies, splits, provenance.

The vocabularies are ccml's top-N lists (packaged in ``hf_culturemert/resources/data``, see PROVENANCE.md there), so
labels built here line up column for column with the numbers reported by ccml and CultureMERT.
"""

import dataclasses
import json
import os
from functools import lru_cache
from typing import Optional

from ..constants import SYNTHETIC_TRADITIONS
from .metadata import CULTUREMERT_CITATION, SYNTHETIC_CITATION, real_vocabularies, resource_path  # noqa: F401

HUB_ORG_ENV = "CULTUREMERT_HUB_ORG"
DEFAULT_HUB_ORG = "culturemert"


def hub_org() -> str:
    """The Hub organisation that default repo ids live under (``$CULTUREMERT_HUB_ORG``, default ``culturemert``)."""
    return os.environ.get(HUB_ORG_ENV, DEFAULT_HUB_ORG)


@lru_cache(maxsize=None)
def _mtat_tags() -> tuple:
    return tuple(json.loads(resource_path("tags", "magnatagatune.json").read_text(encoding="utf-8")))


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What the project knows about one dataset. ``repo_id`` is resolved against ``$CULTUREMERT_HUB_ORG``.

    Attributes:
        name: the registry name (``makam``, ``synthetic-lyra`` ...).
        pretty_name: the name in cards and tables.
        repo_name: the Hub repo's name, under the organisation.
        tags: the tag vocabulary, in the order of the ``labels`` columns (ccml's top-N for the real datasets).
        splits: ``{split: number of tracks}`` of the published splits.
        license: the data's licence (a Hub licence id).
        citation: its BibTeX.
        audio_source: where the audio comes from and how to build the dataset.
        tag_prefixes: the tag families (``instruments--`` ...) of a family-prefixed vocabulary.
        max_duration: seconds kept of each recording, when the study cuts them.
        synthetic: made by the synthetic corpus generator.
        description: a sentence for the dataset card.
    """

    name: str
    pretty_name: str
    repo_name: str
    tags: tuple
    splits: dict
    license: str
    citation: str
    audio_source: str
    tag_prefixes: tuple = ()
    max_duration: Optional[float] = None
    synthetic: bool = False
    description: str = ""

    @property
    def repo_id(self) -> str:
        return f"{hub_org()}/{self.repo_name}"

    @property
    def num_tags(self) -> int:
        return len(self.tags)


CCML_CITATION = """@inproceedings{papaioannou2023west,
  title={From West to East: Who can understand the music of the others better?},
  author={Papaioannou, Charilaos and Benetos, Emmanouil and Potamianos, Alexandros},
  booktitle={Proceedings of the 24th International Society for Music Information Retrieval Conference (ISMIR)},
  year={2023}
}"""

LYRA_CITATION = """@inproceedings{papaioannou2022lyra,
  title={A Dataset for Greek Traditional and Folk Music: Lyra},
  author={Papaioannou, Charilaos and Valiantzas, Ioannis and Giannakopoulos, Theodoros and Kaliakatsos-Papakostas, Maximos and Potamianos, Alexandros},
  booktitle={Proceedings of the 23rd International Society for Music Information Retrieval Conference (ISMIR)},
  year={2022}
}"""

MAKAM_CITATION = """@inproceedings{uyar2014corpus,
  title={A Corpus for Computational Research of Turkish Makam Music},
  author={Uyar, Burak and Atli, Hasan Sercan and {\\c{S}}ent{\\"u}rk, Sertan and Bozkurt, Bar{\\i}{\\c{s}} and Serra, Xavier},
  booktitle={Proceedings of the 1st International Workshop on Digital Libraries for Musicology},
  year={2014}
}"""

INDIAN_CITATION = """@inproceedings{srinivasamurthy2014corpora,
  title={Corpora for Music Information Research in Indian Art Music},
  author={Srinivasamurthy, Ajay and Koduri, Gopala Krishna and Gulati, Sankalp and Ishwar, Vignesh and Serra, Xavier},
  booktitle={Proceedings of the International Computer Music Conference / Sound and Music Computing Conference},
  year={2014}
}"""

FMA_CITATION = """@inproceedings{defferrard2017fma,
  title={FMA: A Dataset for Music Analysis},
  author={Defferrard, Micha{\\"e}l and Benzi, Kirell and Vandergheynst, Pierre and Bresson, Xavier},
  booktitle={Proceedings of the 18th International Society for Music Information Retrieval Conference (ISMIR)},
  year={2017}
}"""

MTAT_CITATION = """@inproceedings{law2009evaluation,
  title={Evaluation of Algorithms Using Games: The Case of Music Tagging},
  author={Law, Edith and West, Kris and Mandel, Michael I. and Bay, Mert and Downie, J. Stephen},
  booktitle={Proceedings of the 10th International Society for Music Information Retrieval Conference (ISMIR)},
  year={2009}
}"""

DUNYA_AUDIO = ("CompMusic Dunya (https://dunya.compmusic.upf.edu): an account, an approved audio-access request and "
               "the API token from the profile page; `dataset_scripts/dunya.py` fetches metadata and mp3s by MBID.")


def _real_registry() -> dict:
    vocab = real_vocabularies()
    entries = [
        DatasetInfo(
            name="lyra", pretty_name="Lyra (Greek traditional and folk music)", repo_name="lyra",
            tags=tuple(vocab["lyra"]["tags"]), splits={"train": 1116, "validation": 124, "test": 330},
            license="cc-by-nc-sa-4.0", citation=LYRA_CITATION, tag_prefixes=("instruments--", "genres--", "place--"),
            audio_source="Time-stamped cuts of 74 public videos; the builder cuts the user's own downloads "
                         "(`dataset_scripts/lyra.py --videos-dir`).",
            description="1570 pieces; official training/test split, validation = random 10% of training (seed 10)."),
        DatasetInfo(
            name="makam", pretty_name="Turkish makam (CompMusic Dunya)", repo_name="turkish-makam",
            tags=tuple(vocab["makam"]["tags"]), splits={"train": 3709, "validation": 529, "test": 1059},
            license="other", citation=MAKAM_CITATION, tag_prefixes=("makam--", "usul--", "instrument--"),
            max_duration=150.0, audio_source=DUNYA_AUDIO,
            description="Turkish makam music recordings; ccml split; audio under Dunya's research-access terms."),
        DatasetInfo(
            name="hindustani", pretty_name="Hindustani (CompMusic Dunya)", repo_name="hindustani",
            tags=tuple(vocab["hindustani"]["tags"]), splits={"train": 844, "validation": 120, "test": 240},
            license="other", citation=INDIAN_CITATION, tag_prefixes=("raga--", "tala--", "form--", "instrument--"),
            max_duration=780.0, audio_source=DUNYA_AUDIO,
            description="Hindustani art music recordings; ccml split. The 20th tag is ambiguous (Bansuri/Sarod)."),
        DatasetInfo(
            name="carnatic", pretty_name="Carnatic (CompMusic Dunya)", repo_name="carnatic",
            tags=tuple(vocab["carnatic"]["tags"]), splits={"train": 1829, "validation": 261, "test": 522},
            license="other", citation=INDIAN_CITATION, tag_prefixes=("raga--", "tala--", "form--", "instrument--"),
            max_duration=330.0, audio_source=DUNYA_AUDIO,
            description="Carnatic art music recordings; ccml split."),
        DatasetInfo(
            name="fma", pretty_name="FMA-medium (genres)", repo_name="fma-medium",
            tags=tuple(vocab["fma"]["tags"]), splits={"train": 17486, "validation": 2498, "test": 4996},
            license="cc-by-4.0", citation=FMA_CITATION,
            audio_source="The user's copy of fma_medium.zip (30 s mp3 clips) and fma_metadata; "
                         "`dataset_scripts/fma.py`.",
            description="FMA-medium with ccml's random 0.7/0.1/0.2 split and top-20 genres."),
        DatasetInfo(
            name="mtat", pretty_name="MagnaTagATune (top-50)", repo_name="magnatagatune",
            tags=_mtat_tags(), splits={"train": None, "validation": None, "test": None},
            license="cc-by-nc-sa-1.0", citation=MTAT_CITATION,
            audio_source="The user's copy of the MTAT mp3 archives and annotations_final.csv; "
                         "`dataset_scripts/mtat.py`.",
            description="25,863 clips of 29 s; folders 0-b train, c validation, d-f test; top-50 tags."),
        _otmm_entry(),
    ]
    return {entry.name: entry for entry in entries}


def _otmm_entry() -> DatasetInfo:
    from .otmm import OTMM_CITATION, SPLIT_FOLDS, VOCABULARY

    return DatasetInfo(
        name="otmm", pretty_name="OTMM makam recognition (real melodies, resynthesised)", repo_name="otmm-makam",
        tags=VOCABULARY, splits={split: 100 * len(folds) for split, folds in SPLIT_FOLDS.items()},
        license="cc-by-nc-sa-4.0", citation=OTMM_CITATION, tag_prefixes=("makam--",),
        audio_source="Resynthesised from the pitch tracks of MTG/otmm_makam_recognition_dataset (a clone, or the "
                     "subset shipped with the package); `dataset_scripts/otmm.py`.",
        description="1,000 performances, 20 makams x 50; MORTY's folds: test 0-1, validation 2, train 3-9.")


def _synthetic_registry() -> dict:
    from .synthetic import tradition_vocabulary

    out = {}
    for tradition in SYNTHETIC_TRADITIONS:
        out[f"synthetic-{tradition}"] = DatasetInfo(
            name=f"synthetic-{tradition}", pretty_name=f"CultureMERT synthetic corpus: {tradition}",
            repo_name=f"synthetic-{tradition}", tags=tuple(tradition_vocabulary(tradition)),
            splits={}, license="apache-2.0", citation=SYNTHETIC_CITATION, synthetic=True,
            audio_source="Generated offline by `culturemert synthesize` (hf_culturemert.data.synthetic).",
            description=f"Synthetic '{tradition}' music whose tags are audible (tuning, cycle, timbre, drone).")
    return out


DATASETS = {**_real_registry(), **_synthetic_registry()}
REAL_DATASETS = ("lyra", "makam", "hindustani", "carnatic", "fma", "mtat", "otmm")
ALIASES = {"turkish-makam": "makam", "otmm-makam": "otmm", "magnatagatune": "mtat", "fma-medium": "fma", "western": "synthetic-western"}


def get_dataset_info(name: str) -> DatasetInfo:
    """The registry's entry for a dataset.

    Args:
        name: a registry name or an alias (``turkish-makam``, ``magnatagatune``, ``fma-medium``, ``western`` ...).

    Returns:
        Its ``DatasetInfo``: Hub repo, tags, split sizes, licence, citation and where its audio comes from.

    Raises:
        ValueError: an unknown name; the message lists the known ones.

    Example:
        ```python
        get_dataset_info("turkish-makam").repo_id    # "culturemert/turkish-makam" ($CULTUREMERT_HUB_ORG)
        ```
    """
    key = ALIASES.get(name, name)
    if key not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; known datasets: {', '.join(DATASETS)} "
                         f"(aliases: {', '.join(ALIASES)})")
    return DATASETS[key]
