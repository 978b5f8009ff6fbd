"""The Space demo's probe heads: one small head per tradition over a model's pooled features, trained full batch.

Unlike the MARBLE grid of :mod:`.train` (one probe per layer and learning rate, selected on validation), a demo head
learns a softmax-weighted sum of all layers with an L2 penalty, because it is trained on a few dozen synthetic clips
and then shown real music. The Space's ``train_heads.py`` drives :func:`train_probe_heads` (through
``hf_culturemert.demo.train_demo_heads``); the demo loads the result with :meth:`ProbeHeads.load`.
"""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

from ..metrics import roc_auc_columns

logger = logging.getLogger(__name__)

HEADS_FILE = "heads.safetensors"
HEADS_META = "heads.json"


@dataclass
class ProbeHeads:
    """Per-tradition probe heads over pooled features [num_states, hidden] of one model.

    Attributes:
        tags: ``{tradition: [tag, ...]}``, the output order of each head.
        tensors: ``mean``/``std`` [L, H] (standardisation, all traditions' training clips), and per tradition ``t``:
            ``t.layer_logits`` [L], ``t.weight`` [T, H'] + ``t.bias`` [T] (and ``t.hidden.weight``/``t.hidden.bias``
            for an MLP head), ``t.centroid`` [L, H] (mean pooled feature of the tradition's training clips).
        meta: what trained them (settings, validation ROC-AUC per tradition).
    """

    tags: Dict[str, List[str]]
    tensors: Dict[str, torch.Tensor]
    meta: dict = field(default_factory=dict)

    @property
    def traditions(self) -> List[str]:
        return list(self.tags)

    @property
    def num_states(self) -> int:
        return int(self.tensors["mean"].shape[0])

    @property
    def hidden_size(self) -> int:
        return int(self.tensors["mean"].shape[1])

    def _standardize(self, pooled):
        return (pooled.float() - self.tensors["mean"]) / self.tensors["std"]

    def logits(self, tradition: str, pooled: torch.Tensor) -> torch.Tensor:
        """Logits [..., T] from pooled features [..., L, H]."""
        t = self.tensors
        weights = torch.softmax(t[f"{tradition}.layer_logits"], dim=0)
        x = (self._standardize(pooled) * weights[:, None]).sum(-2)
        if f"{tradition}.hidden.weight" in t:
            x = torch.relu(x @ t[f"{tradition}.hidden.weight"].T + t[f"{tradition}.hidden.bias"])
        return x @ t[f"{tradition}.weight"].T + t[f"{tradition}.bias"]

    @torch.no_grad()
    def predict(self, pooled: torch.Tensor) -> Dict[str, Dict[str, float]]:
        """{tradition: {tag: probability}} for one clip's pooled features [L, H]."""
        self._check(pooled)
        return {name: dict(zip(tags, torch.sigmoid(self.logits(name, pooled)).tolist()))
                for name, tags in self.tags.items()}

    @torch.no_grad()
    def layer_similarity(self, pooled: torch.Tensor) -> np.ndarray:
        """Cosine similarity [traditions, L] between the clip and each tradition's centroid, per layer.

        Both are centred on the mean over all traditions first, so the score says which tradition the clip is
        closest to at that depth rather than measuring the large component all music shares.
        """
        self._check(pooled)
        centre = self.tensors["mean"]
        clip = pooled.float() - centre
        rows = [torch.nn.functional.cosine_similarity(clip, self.tensors[f"{name}.centroid"] - centre, dim=-1)
                for name in self.tags]
        return torch.stack(rows).numpy()

    def layer_weights(self, tradition: str) -> List[float]:
        return torch.softmax(self.tensors[f"{tradition}.layer_logits"], 0).tolist()

    def _check(self, pooled):
        if tuple(pooled.shape[-2:]) != (self.num_states, self.hidden_size):
            raise ValueError(f"Probe heads expect pooled features of shape ({self.num_states}, {self.hidden_size}) "
                             f"(model {self.meta.get('model_id')!r}), got {tuple(pooled.shape)}; retrain the heads "
                             "for this model with spaces/culturemert-demo/train_heads.py")

    def compatible_with(self, config) -> bool:
        return (self.num_states, self.hidden_size) == (config.num_hidden_layers + 1, config.hidden_size)

    def save(self, folder) -> Path:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.tensors.items()}, str(folder / HEADS_FILE))
        meta = dict(self.meta, tags=self.tags, format_version=1)
        (folder / HEADS_META).write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder) -> "ProbeHeads":
        from safetensors.torch import load_file

        folder = Path(folder)
        for name in (HEADS_FILE, HEADS_META):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder / name} is missing; make the heads with "
                                        "spaces/culturemert-demo/train_heads.py")
        meta = json.loads((folder / HEADS_META).read_text(encoding="utf-8"))
        tags = meta.pop("tags")
        tensors = load_file(str(folder / HEADS_FILE))
        missing = [f"{t}.{k}" for t in tags for k in ("layer_logits", "weight", "bias", "centroid")
                   if f"{t}.{k}" not in tensors]
        if missing:
            raise ValueError(f"{folder / HEADS_FILE} lacks tensors {missing}; retrain the heads")
        return cls(tags=tags, tensors=tensors, meta=meta)


def _macro_roc_auc(labels: np.ndarray, scores: np.ndarray) -> Optional[float]:
    values = roc_auc_columns(scores, labels)
    return float(np.nanmean(values)) if np.isfinite(values).any() else None


def train_probe_heads(train: Dict[str, tuple], validation: Optional[Dict[str, tuple]] = None, hidden_size: int = 0,
                      epochs: int = 200, learning_rate: float = 1e-2, l2: float = 3e-2, seed: int = 0,
                      meta: Optional[dict] = None) -> ProbeHeads:
    """Train one head per tradition, full batch (the synthetic corpus is small).

    Args:
        train: ``{tradition: (pooled [N, L, H], labels [N, T] multi-hot, tags)}``.
        validation: the same for validation; its macro ROC-AUC per tradition is recorded in ``meta``.
        hidden_size: 0 gives a linear head, otherwise Linear -> ReLU -> Linear of that width.
        epochs: full-batch Adam steps.
        learning_rate: Adam's learning rate.
        l2: weight of the squared-weight penalty: with a few dozen clips per tradition an unregularised head is
            confidently wrong on real music.
        seed: seed of the heads' initialisation.
        meta: extra entries for ``ProbeHeads.meta`` (the model's name, ...).

    Returns:
        The trained :class:`ProbeHeads`.
    """
    if not train:
        raise ValueError("`train` is empty: pass {tradition: (features, labels, tags)}")
    every = torch.cat([torch.as_tensor(f, dtype=torch.float32) for f, _, _ in train.values()])
    mean, std = every.mean(0), every.std(0, unbiased=False).clamp_min(1e-5)
    tensors = {"mean": mean, "std": std}
    tags_out, scores = {}, {}
    for index, (name, (features, labels, tags)) in enumerate(train.items()):
        features = torch.as_tensor(features, dtype=torch.float32)
        labels = torch.as_tensor(np.asarray(labels), dtype=torch.float32)
        if labels.shape != (features.shape[0], len(tags)):
            raise ValueError(f"tradition {name!r}: labels {tuple(labels.shape)} do not match {features.shape[0]} "
                             f"clips x {len(tags)} tags")
        generator = torch.Generator().manual_seed(seed + index)
        width = features.shape[-1]
        params = {"layer_logits": torch.zeros(features.shape[1])}
        if hidden_size:
            params["hidden.weight"] = torch.randn(hidden_size, width, generator=generator) / width ** 0.5
            params["hidden.bias"] = torch.zeros(hidden_size)
            width = hidden_size
        params["weight"] = torch.randn(len(tags), width, generator=generator) * 0.01
        params["bias"] = torch.zeros(len(tags))
        for value in params.values():
            value.requires_grad_(True)
        optimizer = torch.optim.Adam(params.values(), lr=learning_rate)
        heads = ProbeHeads(tags={name: list(tags)},
                           tensors={**tensors, **{f"{name}.{k}": v for k, v in params.items()}})
        for _ in range(epochs):
            optimizer.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(heads.logits(name, features), labels)
            penalty = sum((value ** 2).sum() for key, value in params.items() if key.endswith("weight"))
            (loss + l2 * penalty).backward()
            optimizer.step()
        tensors.update({f"{name}.{k}": v.detach() for k, v in params.items()})
        tensors[f"{name}.centroid"] = features.mean(0)
        tags_out[name] = list(tags)
        if validation and name in validation:
            val_features, val_labels, _ = validation[name]
            with torch.no_grad():
                val_scores = torch.sigmoid(heads.logits(name, torch.as_tensor(val_features, dtype=torch.float32)))
            scores[name] = _macro_roc_auc(np.asarray(val_labels), val_scores.numpy())
        logger.info("Trained %s head (%d clips, %d tags, final loss %.3f)", name, len(labels), len(tags), loss.item())
    meta = dict(meta or {}, hidden_size=hidden_size, epochs=epochs, l2=l2, validation_roc_auc=scores)
    return ProbeHeads(tags=tags_out, tensors=tensors, meta=meta)
