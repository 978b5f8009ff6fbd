"""Training one tagger on one dataset with ``Trainer`` (single-domain or transfer), and its chunked evaluation.

``train_tagger`` runs under plain Python or ``accelerate launch`` (``Trainer`` does the distribution):
Adam with L2 weight decay and a constant learning rate (the study's settings; its Adam -> SGD switch never fired
and AST's warm-up reset the LR every step, so the effective schedule was constant), BCE with logits, one random
crop per track per epoch, validation loss on fixed crops after every epoch, and the weights with the best
validation loss kept (a callback holds them in memory and restores them at the end). Evaluation cuts every
track into chunks and aggregates the chunk outputs per track (:func:`~hf_culturemert.transfer.data.aggregate_per_track`); metrics come from the package's
``evaluate`` metric (``multilabel_tagging``).

Transfer (:func:`transfer_model`): the target model is built for the target's tags, every source weight but the
output layer is loaded (the new output layer keeps its fresh initialisation), and in ``head`` mode everything but
the output layer is frozen (for AST that includes the head's LayerNorm; BatchNorm statistics still update in train
mode, as in the study).
"""

import copy
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import TrainerCallback

from .data import FixedCrops, RandomCrops, TrackChunks, aggregate_per_track
from .models import chunk_length, family_of, output_layer_prefix

logger = logging.getLogger(__name__)

MODES = ("full", "head")
_METRIC = {}


def tagging_metric():
    """The package's ``evaluate`` metric (loaded once per process, offline)."""
    if "module" not in _METRIC:
        from ..metrics import load_metric

        _METRIC["module"] = load_metric()
    return _METRIC["module"]


@dataclass
class TrainSettings:
    """Optimisation of one run (the recipe's values for a family and dataset)."""

    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float = 0.0
    betas: tuple = (0.9, 0.999)
    seed: int = 0
    num_workers: int = 0
    bf16: bool = False
    progress: bool = True
    eval_batch_size: int = None


def input_adapter(family, extractor):
    """[T, C] float tensor (cached representation) -> one model input tensor, and the model's input name."""
    if family == "mert":
        def wave(x):
            x = x[:, 0]
            return (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-7)  # Wav2Vec2FeatureExtractor do_normalize

        return wave, "input_values"
    return (lambda x: extractor.postprocess(x.T)), extractor.input_name


def _collate(items):
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


def trainable_parameters(model):
    return [p for p in model.parameters() if p.requires_grad]


def train_tagger(model, extractor, train_inputs, valid_inputs, settings: TrainSettings, output_dir):
    """Train ``model`` in place with ``Trainer``, keeping the weights of the best validation loss.

    One random crop per track per epoch, validation loss on fixed crops every epoch, Adam with L2 weight decay and a
    constant learning rate, BCE with logits. The best weights are kept in memory (no per-epoch files).

    Args:
        model: a tagger from :func:`~hf_culturemert.transfer.models.build_tagger` (or a transferred one).
        extractor: its front end (``feature_extractor(family)``).
        train_inputs: the cached training tracks (``load_inputs``).
        valid_inputs: the cached validation tracks.
        settings: the run's ``TrainSettings`` (epochs, batch size, learning rate, weight decay ...).
        output_dir: Trainer's scratch folder while it runs.

    Returns:
        ``(model, log)``: the model holding the best-validation-loss weights, and the per-epoch log.
    """
    from transformers import Trainer, TrainingArguments

    family = family_of(model)
    to_model, input_name = input_adapter(family, extractor)
    length = chunk_length(model)
    from accelerate import PartialState

    # every training batch full on every process (BatchNorm needs > 1 clip): a few tracks get a second crop per epoch
    multiple = settings.batch_size * PartialState().num_processes
    train = RandomCrops(train_inputs, length, to_model, input_name, seed=settings.seed, multiple_of=multiple)
    valid = FixedCrops(valid_inputs, length, to_model, input_name, seed=settings.seed)
    params = trainable_parameters(model)
    if not params:
        raise ValueError("train_tagger: the model has no trainable parameter")
    # Adam with L2 weight decay (torch.optim.Adam), constant LR: the study's optimiser as it effectively ran
    optimizer = torch.optim.Adam(params, lr=settings.learning_rate, betas=tuple(settings.betas),
                                 weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    keeper = _BestKeeper()
    args = TrainingArguments(
        output_dir=str(Path(output_dir) / "trainer"), num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.eval_batch_size or settings.batch_size,
        eval_strategy="epoch", save_strategy="no", logging_strategy="epoch",
        report_to="none", seed=settings.seed, dataloader_num_workers=settings.num_workers,
        remove_unused_columns=False, disable_tqdm=not settings.progress, bf16=settings.bf16,
        use_cpu=not torch.cuda.is_available())
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=valid, data_collator=_collate,
                      optimizers=(optimizer, scheduler), callbacks=[keeper])
    if not settings.progress:  # without bars Trainer prints every log dict to stdout instead
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    trainer.train()
    history = [{k: v for k, v in entry.items() if k in ("epoch", "loss", "eval_loss")}
               for entry in trainer.state.log_history if "loss" in entry or "eval_loss" in entry]
    model = trainer.model
    keeper.restore(model)
    if trainer.is_world_process_zero():
        shutil.rmtree(Path(output_dir) / "trainer", ignore_errors=True)
    return model, {"history": history, "best_epoch": keeper.best_epoch, "best_eval_loss": keeper.best_loss}


class _BestKeeper(TrainerCallback):
    """Keeps a CPU copy of the weights (parameters and BatchNorm statistics) with the lowest validation loss and
    puts them back after training. In memory rather than through Trainer's checkpoint reload, which loads files by
    key and silently skips renamed keys (transformers 5 saves AST under its legacy names)."""

    def __init__(self):
        self.best_loss, self.best_epoch, self.state = None, None, None

    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
        loss = (metrics or {}).get("eval_loss")
        if loss is not None and model is not None and (self.best_loss is None or loss < self.best_loss):
            self.best_loss, self.best_epoch = float(loss), int(round(state.epoch or 0))
            self.state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}

    def restore(self, model):
        if self.state is None:
            raise RuntimeError("train_tagger: no validation loss was computed, so no best checkpoint exists")
        model.load_state_dict(self.state, strict=True)


@torch.no_grad()
def predict_tracks(model, extractor, inputs, batch_size=16, device=None):
    """Per-track scores [tracks, tags] and references: chunks -> logits -> the family's aggregation."""
    family = family_of(model)
    to_model, input_name = input_adapter(family, extractor)
    chunks = TrackChunks(inputs, chunk_length(model), to_model, input_name)
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    logits = []
    loader = torch.utils.data.DataLoader(chunks, batch_size=batch_size, collate_fn=_collate)
    for batch in loader:
        logits.append(model(batch[input_name].to(device)).logits.float().cpu())
    model.train(was_training)
    mode = getattr(model.config, "aggregation", None) or ("logits" if family in ("ast", "mert") else "probabilities")
    scores = aggregate_per_track(torch.cat(logits).numpy(), chunks.track_index, len(chunks.references), mode)
    return scores, chunks.references


def evaluate_tracks(model, extractor, inputs, tags, batch_size=16):
    """Macro ROC-AUC / PR-AUC (mAP) and F1 on per-track scores, from the package's ``evaluate`` metric."""
    scores, references = predict_tracks(model, extractor, inputs, batch_size=batch_size)
    result = tagging_metric().compute(predictions=scores.tolist(), references=references.astype(int).tolist())
    keys = ("roc_auc", "average_precision", "micro_f1", "macro_f1")
    out = {k: float(result[k]) for k in keys if k in result}
    out["tracks"] = int(len(references))
    return out


def transfer_model(source, target_tags, mode, seed=0):
    """A copy of ``source`` for ``target_tags``: every weight but the output layer from the source, a freshly
    initialised output layer, and in ``head`` mode everything but that layer frozen."""
    if mode not in MODES:
        raise ValueError(f"Unknown transfer mode {mode!r}; choose from {', '.join(MODES)}")
    config = copy.deepcopy(source.config)
    config.id2label = {i: t for i, t in enumerate(target_tags)}
    config.label2id = {t: i for i, t in enumerate(target_tags)}
    torch.manual_seed(seed)
    target = type(source)(config)
    prefix = output_layer_prefix(source)
    state = {k: v for k, v in source.state_dict().items() if not k.startswith(prefix)}
    missing, unexpected = target.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith(prefix) for k in missing):
        raise RuntimeError(f"transfer_model: source and target differ beyond the output layer ({prefix}*): "
                           f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    if mode == "head":
        for name, param in target.named_parameters():
            param.requires_grad = name.startswith(prefix)
    return target


def parameter_changes(before, after):
    """Names of the parameters that differ between two state dicts (tests and the run log)."""
    return sorted(k for k in before if not torch.equal(before[k], after[k]))


def spectrogram_stats(inputs, limit=256):
    """Mean and std of the raw mel-dB over (at most ``limit``) training tracks: AST's fixed normalisation."""
    total, total_sq, count = 0.0, 0.0, 0
    for i in range(min(len(inputs), limit)):
        x = np.asarray(inputs[i]["x"], dtype=np.float64)
        total += x.sum()
        total_sq += np.square(x).sum()
        count += x.size
    mean = total / count
    return float(mean), float(np.sqrt(max(total_sq / count - mean * mean, 1e-12)))
