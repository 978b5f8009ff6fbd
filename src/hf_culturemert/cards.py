"""Model and dataset cards from the Jinja templates in ``model_cards/``, via huggingface_hub's card classes.

``render_model_card("continual" | "merged", **info)`` fills the YAML (base_model, datasets, license, tags and a
``model-index`` built from evaluation results) and the body (architecture, data, usage that works on current
transformers, results tables, CultureMERT + MERT BibTeX). ``render_dataset_card(name, ...)`` does the same for the
evaluation datasets from the registry, keeping the ``configs`` / ``dataset_info`` of an existing folder.

Evaluation results schema (what ``culturemert evaluate`` writes; values are fractions in [0, 1])::

    {"results": {MODEL: {DATASET: {"roc_auc": 0.89, "average_precision": 0.61, "micro_f1": ..., "macro_f1": ...}}}}

A metric may also be ``{"mean": m, "std": s}`` and a dataset entry may wrap its metrics in ``"summary"`` (the
probing pipeline's full result), so ``results.json`` from ``evaluate_models`` is accepted as it is. Optional
top-level keys: ``split`` (default ``test``), ``num_seeds``.
"""

import json
import logging
import os
from pathlib import Path
from typing import Optional, Union

from .card_templates import TEMPLATES_ENV, render_card, render_template, templates_dir  # noqa: F401 (public here)
from .constants import TRADITIONS

logger = logging.getLogger(__name__)

MODEL_KINDS = {"continual": "continual_pretrained.md", "merged": "merged.md"}
KIND_ALIASES = {"continual-pretrained": "continual", "continual_pretrained": "continual", "cpt": "continual",
                "merge": "merged", "task-arithmetic": "merged"}
METRICS = {  # key in results -> (model-index type, display name, metric config)
    "roc_auc": ("roc_auc", "ROC-AUC (macro)", None),
    "average_precision": ("average_precision", "mAP (macro)", None),
    "micro_f1": ("f1", "micro-F1", "micro"),
    "macro_f1": ("f1", "macro-F1", "macro"),
}
DEFAULT_BASE_MODEL = "m-a-p/MERT-v1-95M"
DEFAULT_LICENSE = "cc-by-nc-4.0"
RESULT_DATASET_ORDER = ("makam", "hindustani", "carnatic", "lyra", "fma", "mtat")

MERT_BIBTEX = """@misc{li2023mert,
  title={MERT: Acoustic Music Understanding Model with Large-Scale Self-supervised Training},
  author={Li, Yizhi and Yuan, Ruibin and Zhang, Ge and Ma, Yinghao and Chen, Xingran and Yin, Hanzhi and Xiao, Chenghao and Lin, Chenghua and Ragni, Anton and Benetos, Emmanouil and Gyenge, Norbert and Dannenberg, Roger and Liu, Ruibo and Chen, Wenhu and Xia, Gus and Shi, Yemin and Huang, Wenhao and Wang, Zili and Guo, Yike and Fu, Jie},
  year={2023},
  eprint={2306.00107},
  archivePrefix={arXiv},
  primaryClass={cs.SD}
}"""

TASK_ARITHMETIC_BIBTEX = """@inproceedings{ilharco2023editing,
  title={Editing Models with Task Arithmetic},
  author={Ilharco, Gabriel and Ribeiro, Marco Tulio and Wortsman, Mitchell and Gururangan, Suchin and Schmidt, Ludwig and Hajishirzi, Hannaneh and Farhadi, Ali},
  booktitle={International Conference on Learning Representations (ICLR)},
  year={2023}
}"""

MERGE_METHODS = {"task_arithmetic": "task-arithmetic", "ties": "TIES", "dare_ties": "DARE-TIES",
                 "dare_linear": "DARE", "linear": "linear (weight averaging)"}


def _render_partial(name: str, **values) -> str:
    return render_template(name, **values).strip() + "\n"


# ---------------------------------------------------------------------------------------------------------------
# Evaluation results
# ---------------------------------------------------------------------------------------------------------------


def _metric_value(value):
    if isinstance(value, dict):
        if "mean" not in value:
            raise ValueError(f"metric value {value!r} is a mapping without 'mean'")
        return float(value["mean"]), (None if value.get("std") is None else float(value["std"]))
    return float(value), None


def load_results(source: Union[str, os.PathLike, dict, None]) -> dict:
    """Normalise evaluation results to ``{"results": {model: {dataset: {metric: (mean, std)}}}, "split", "num_seeds"}``.

    ``source``: a path to the JSON, or the parsed dict (see the module docstring for the schema).
    """
    if source is None:
        return {"results": {}, "split": "test", "num_seeds": None}
    if not isinstance(source, dict):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"Evaluation results {path} not found (write them with `culturemert evaluate`)")
        try:
            source = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from error
    if "results" not in source or not isinstance(source["results"], dict):
        raise ValueError("Evaluation results need a top-level 'results' mapping: "
                         "{'results': {model: {dataset: {metric: value}}}}")
    out = {}
    for model, per_dataset in source["results"].items():
        if not isinstance(per_dataset, dict):
            raise ValueError(f"results[{model!r}] must map dataset names to metrics, got {type(per_dataset).__name__}")
        out[model] = {}
        for dataset, metrics in per_dataset.items():
            if isinstance(metrics, dict) and isinstance(metrics.get("summary"), dict):
                metrics = metrics["summary"]
            if not isinstance(metrics, dict):
                raise ValueError(f"results[{model!r}][{dataset!r}] must map metric names to values")
            try:
                out[model][dataset] = {k: _metric_value(v) for k, v in metrics.items() if k in METRICS}
            except (TypeError, ValueError) as error:
                raise ValueError(f"results[{model!r}][{dataset!r}]: {error}") from error
    num_seeds = source.get("num_seeds")
    return {"results": out, "split": source.get("split", "test"), "num_seeds": num_seeds}


def _dataset_meta(dataset: str):
    """(Hub id, pretty name) of a dataset key used in results."""
    from .data.registry import get_dataset_info

    try:
        info = get_dataset_info(dataset)
    except ValueError:
        return dataset, dataset
    return info.repo_id, info.pretty_name


def eval_results(results: dict, model_key: str, model_name: str):
    """``EvalResult`` entries (the card's ``model-index``) for one model of normalised results."""
    from huggingface_hub import EvalResult

    entries = []
    for dataset, metrics in results["results"].get(model_key, {}).items():
        dataset_id, pretty = _dataset_meta(dataset)
        for key, (mean, _std) in metrics.items():
            metric_type, metric_name, metric_config = METRICS[key]
            entries.append(EvalResult(
                task_type="audio-classification", task_name="Music auto-tagging (MARBLE probing)",
                dataset_type=dataset_id, dataset_name=pretty, dataset_split=results["split"],
                metric_type=metric_type, metric_name=metric_name, metric_config=metric_config,
                metric_value=round(100.0 * mean, 2)))
    return entries


def _ordered_datasets(results: dict) -> list:
    seen = list(dict.fromkeys(d for per in results["results"].values() for d in per))
    return sorted(seen, key=lambda d: (RESULT_DATASET_ORDER.index(d) if d in RESULT_DATASET_ORDER else 99, d))


def _pair_rows(results: dict, datasets: list, first: str, second: str, highlight: Optional[str]) -> list:
    rows = []
    for model, per in results["results"].items():
        cells, seen = [], False
        for dataset in datasets:
            metrics = per.get(dataset, {})
            if first in metrics or second in metrics:
                seen = True
            cells.append("/".join(f"{100 * metrics[k][0]:.1f}" if k in metrics else "–" for k in (first, second)))
        if seen:
            rows.append((f"**{model}**" if model == highlight else model, cells))
    return rows


def _pick_model_key(results: dict, candidates) -> Optional[str]:
    for key in candidates:
        if key and key in results["results"]:
            return key
    return None


# ---------------------------------------------------------------------------------------------------------------
# Model cards
# ---------------------------------------------------------------------------------------------------------------


def render_model_card(kind: str, **info):
    """A ``huggingface_hub.ModelCard`` for a ``continual`` pre-trained or a ``merged`` model.

    Keys of ``info`` (only ``repo_id`` is required):
        repo_id, model_name (default: the repo name), base_model (``m-a-p/MERT-v1-95M``), datasets (Hub dataset
        ids; default: the four culture datasets of the registry), license (``cc-by-nc-4.0``), language, tags,
        hidden_size (768), num_layers (12), description, results (path or dict, schema in the module docstring),
        results_model (the key of this model in ``results``; default model_name, then repo_id),
        results_note, template_path (another template).
        continual: traditions (list), data_hours ({tradition: hours}), stages (list of dicts with name, steps,
        learning_rate, western_fraction, trainable).
        merged: merged_models (list of ids), merge_method (``task_arithmetic``), scaling (lambda, 0.2),
        extra_merge_text.

    Args:
        kind: ``continual`` (aliases ``continual-pretrained``, ``cpt``) or ``merged`` (``merge``,
            ``task-arithmetic``).
        **info: the keys above.

    Returns:
        The card: YAML header (base_model, datasets, license, ``model-index`` from the results) and body rendered
        from ``model_cards/``; ``card.save(folder / "README.md")`` writes it.

    Example:
        ```python
        card = render_model_card("merged", repo_id="me/CultureMERT-TA-95M", merged_models=["a", "b"],
                                 scaling=0.2, results="results/results.json")
        ```
    """
    from huggingface_hub import ModelCard, ModelCardData

    kind = KIND_ALIASES.get(kind, kind)
    if kind not in MODEL_KINDS:
        raise ValueError(f"Unknown model card kind {kind!r}; use one of {', '.join(MODEL_KINDS)} "
                         f"(aliases: {', '.join(KIND_ALIASES)})")
    info = dict(info)
    repo_id = info.pop("repo_id", None)
    if not repo_id:
        raise ValueError("render_model_card needs repo_id='ORG/NAME' (the repository the card describes)")
    model_name = info.pop("model_name", None) or repo_id.split("/")[-1]
    base_model = info.pop("base_model", DEFAULT_BASE_MODEL)
    license_ = info.pop("license", DEFAULT_LICENSE)
    datasets = info.pop("datasets", None)
    if datasets is None:
        from .data.registry import get_dataset_info

        datasets = [get_dataset_info(name).repo_id for name in TRADITIONS]
    results = load_results(info.pop("results", None))
    results_key = _pick_model_key(results, [info.pop("results_model", None), model_name, repo_id])
    if results["results"] and results_key is None:
        raise ValueError(f"The evaluation results have no entry for this model (tried results_model, {model_name!r}, "
                         f"{repo_id!r}); models in the results: {', '.join(results['results'])}. "
                         "Pass results_model=<key>.")
    template_path = info.pop("template_path", None) or templates_dir() / MODEL_KINDS[kind]
    tags = ["music", "audio", "mert", "culturemert", "self-supervised-learning", "feature-extraction"]
    tags += [t for t in info.pop("tags", []) if t not in tags]
    if kind == "merged":
        tags += ["merge", "task-arithmetic"] if info.get("merge_method", "task_arithmetic") == "task_arithmetic" \
            else ["merge"]

    card_data = ModelCardData(
        base_model=base_model, datasets=list(datasets), license=license_, library_name="transformers",
        pipeline_tag="feature-extraction", tags=tags, language=info.pop("language", None), model_name=model_name,
        eval_results=eval_results(results, results_key, model_name) if results_key else None,
        metrics=sorted({METRICS[k][0] for per in results["results"].values() for m in per.values() for k in m})
        or None)
    values = dict(repo_id=repo_id, model_name=model_name, base_model=base_model, license=license_,
                  hidden_size=int(info.pop("hidden_size", 768)), num_layers=int(info.pop("num_layers", 12)),
                  description=info.pop("description", ""))
    datasets_order = _ordered_datasets(results)
    results_section = _render_partial(
        "_results.md", result_rows=_pair_rows(results, datasets_order, "roc_auc", "average_precision", results_key),
        f1_rows=_pair_rows(results, datasets_order, "micro_f1", "macro_f1", results_key),
        result_datasets=datasets_order, num_seeds=results["num_seeds"], eval_split=results["split"],
        results_note=info.pop("results_note", ""))
    extra_bibtex = ""
    if kind == "continual":
        traditions = list(info.pop("traditions", ["Greek folk (Lyra)", "Turkish makam", "Hindustani", "Carnatic"]))
        data_hours = info.pop("data_hours", None) or {}
        values.update(traditions_text=_join(traditions), data_rows=list(data_hours.items()),
                      stages=[_Stage(**s) for s in info.pop("stages", [])])
    else:
        merged = list(info.pop("merged_models", []))
        if not merged:
            raise ValueError("render_model_card('merged', ...) needs merged_models=[ids of the merged models]")
        method = info.pop("merge_method", "task_arithmetic")
        values.update(merged_models=merged, merge_method_text=MERGE_METHODS.get(method, method),
                      scaling=info.pop("scaling", 0.2), extra_merge_text=info.pop("extra_merge_text", ""))
        extra_bibtex = TASK_ARITHMETIC_BIBTEX
    if info:
        raise ValueError(f"render_model_card({kind!r}): unknown keys {sorted(info)}; see its docstring")
    from .data.registry import CULTUREMERT_CITATION

    values["usage_section"] = _render_partial("_usage.md", **values)
    values["results_section"] = results_section
    values["citation_section"] = _render_partial("_citation.md", culturemert_bibtex=CULTUREMERT_CITATION,
                                                 mert_bibtex=MERT_BIBTEX, extra_bibtex=extra_bibtex)
    return ModelCard(render_card(template_path, card_data, **{**card_data.to_dict(), **values}))


class _Stage:
    def __init__(self, name, steps="", learning_rate="", western_fraction="", trainable="all"):
        self.name, self.steps, self.learning_rate = name, steps, learning_rate
        self.western_fraction, self.trainable = western_fraction, trainable


def _join(items) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ---------------------------------------------------------------------------------------------------------------
# Dataset cards
# ---------------------------------------------------------------------------------------------------------------

LICENSE_NOTES = {
    "cc-by-nc-sa-4.0": "Non-commercial, share-alike.",
    "cc-by-nc-sa-1.0": "Non-commercial, share-alike.",
    "other": "The audio stays under the terms of its source (see above); use it for research only.",
}


def render_dataset_card(name: str, repo_id: Optional[str] = None, folder=None, **info):
    """A ``huggingface_hub.DatasetCard`` for a registry dataset (``lyra``, ``makam``, ..., ``synthetic-makam``).

    Args:
        name: a registry name (see :func:`hf_culturemert.data.get_dataset_info`).
        repo_id: the Hub id the card describes (default: the registry's).
        folder: an existing Hub-layout folder; its ``configs``, ``dataset_info`` and split sizes are kept so that
            ``load_dataset`` keeps working.
        **info: overrides of the registry: pretty_name, description, license, citation, tags (vocabulary), splits
            ({split: count}), template_path.

    Returns:
        The ``DatasetCard``.

    Example:
        ```python
        render_dataset_card("makam", folder="data/makam").save("data/makam/README.md")
        ```
    """
    from huggingface_hub import DatasetCard, DatasetCardData

    from .data.hub_layout import size_category
    from .data.registry import CULTUREMERT_CITATION, get_dataset_info

    registry = get_dataset_info(name)
    info = dict(info)
    repo_id = repo_id or registry.repo_id
    header = {}
    if folder is not None:
        from .publish import read_front_matter

        readme = Path(folder) / "README.md"
        if not readme.is_file():
            raise FileNotFoundError(f"{readme} not found: build the dataset folder first")
        header = read_front_matter(readme) or {}
    vocabulary = list(info.pop("tags", None) or _folder_vocabulary(folder) or registry.tags)
    splits = info.pop("splits", None) or _header_splits(header) or {k: v for k, v in registry.splits.items() if v}
    configs = header.get("configs") or [{"config_name": "default",
                                         "data_files": [{"split": s, "path": f"data/{s}-*"}
                                                        for s in (splits or {"train": 0, "validation": 0, "test": 0})]}]
    license_ = info.pop("license", registry.license)
    pretty_name = info.pop("pretty_name", registry.pretty_name)
    citation = info.pop("citation", registry.citation)
    if citation.strip() != CULTUREMERT_CITATION.strip():
        citation = citation.strip() + "\n\n" + CULTUREMERT_CITATION
    template_path = info.pop("template_path", None) or templates_dir() / "dataset.md"
    description = info.pop("description", registry.description)
    if info:
        raise ValueError(f"render_dataset_card: unknown keys {sorted(info)}; see its docstring")
    total = sum(v for v in splits.values() if v)
    extra = {"configs": configs}
    if header.get("dataset_info"):
        extra["dataset_info"] = header["dataset_info"]
    card_data = DatasetCardData(
        pretty_name=pretty_name, license=license_, task_categories=["audio-classification"],
        size_categories=[size_category(total)] if total else None,
        tags=["music", "audio", "music-tagging", "mir", "culturemert"] + (["synthetic"] if registry.synthetic else []),
        **extra)
    extra_columns = ""
    if header.get("dataset_info", {}).get("features"):
        names = [f.get("name") for f in header["dataset_info"]["features"] if isinstance(f, dict)]
        extras = [n for n in names if n not in ("id", "audio", "tags", "labels", "duration")]
        extra_columns = ", ".join(f"`{n}`" for n in extras)
    values = dict(pretty_name=pretty_name, name=registry.name, repo_id=repo_id, description=description,
                  num_tags=len(vocabulary), tags_text=", ".join(f"`{t}`" for t in vocabulary),
                  split_rows=list(splits.items()), extra_columns=extra_columns, audio_source=registry.audio_source,
                  license=license_, license_note=LICENSE_NOTES.get(license_, ""), citation=citation.strip())
    return DatasetCard(render_card(template_path, card_data, **{**card_data.to_dict(), **values}))


def _folder_vocabulary(folder):
    if folder is None:
        return None
    from .data.hub_layout import read_vocabulary

    return read_vocabulary(folder)


def _header_splits(header: dict) -> dict:
    splits = (header.get("dataset_info") or {}).get("splits") or []
    return {s["name"]: s.get("num_examples") for s in splits if isinstance(s, dict) and "name" in s}
