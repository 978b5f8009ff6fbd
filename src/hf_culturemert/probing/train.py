"""MARBLE probes, trained as one vectorised ensemble: every (learning rate, seed) pair of a layer at once.

A probe is Linear(H -> 512) - ReLU - Dropout(0.2) - Linear(512 -> T) with BCE, Adam, batch 64, ReduceLROnPlateau
(0.5, patience 3) and early stopping (patience 10) on validation ROC-AUC, where the logits of a track's windows are
averaged before the sigmoid. Probes are tiny, so per-step overhead dominates: stacking the P = |lr grid| x |seeds|
probes into batched matrix products (and a hand-written Adam with a per-probe learning rate) trains all of them in
the time of one. Each probe's initialisation, batch order and dropout stream derive from its seed (probes of one seed
share the initialisation and batch order, so learning rates are compared on equal terms): the same seed and settings
give the same numbers.
"""

import contextlib
import logging
import math

import numpy as np
import torch
import torch.nn.functional as F

from ..metrics import roc_auc_columns, tagging_metrics

logger = logging.getLogger(__name__)


def _uniform(generator, shape, bound):
    return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1).mul(bound).float()


class ProbeEnsemble:
    """P independent MLP probes stored as stacked tensors. ``num_layers`` > 0 adds per-probe softmax layer weights."""

    def __init__(self, seeds_per_probe, in_dim, hidden, out_dim, num_layers=0, device="cpu"):
        params = {name: [] for name in ("w1", "b1", "w2", "b2")}
        for seed in seeds_per_probe:  # nn.Linear's default init, drawn from the probe's own seed
            g = torch.Generator().manual_seed(int(seed))
            bound1, bound2 = 1 / math.sqrt(in_dim), 1 / math.sqrt(hidden)
            params["w1"].append(_uniform(g, (in_dim, hidden), bound1))
            params["b1"].append(_uniform(g, (hidden,), bound1))
            params["w2"].append(_uniform(g, (hidden, out_dim), bound2))
            params["b2"].append(_uniform(g, (out_dim,), bound2))
        self.params = {k: torch.stack(v).to(device).requires_grad_(True) for k, v in params.items()}
        if num_layers:
            self.params["layer_logits"] = torch.zeros(len(seeds_per_probe), num_layers, device=device,
                                                      requires_grad=True)

    def mix(self, x):
        """x [P, B, H] (single layer) or [P, B, L, H] (all layers) -> [P, B, H]."""
        if "layer_logits" not in self.params:
            return x
        weights = torch.softmax(self.params["layer_logits"], dim=-1)
        return torch.einsum("pl,pblh->pbh", weights, x)

    def forward(self, x, dropout_mask=None):
        p = self.params
        hidden = torch.relu(torch.baddbmm(p["b1"][:, None, :], self.mix(x), p["w1"]))
        if dropout_mask is not None:
            hidden = hidden * dropout_mask
        return torch.baddbmm(p["b2"][:, None, :], hidden, p["w2"])

    def layer_weights(self):
        if "layer_logits" not in self.params:
            return None
        return torch.softmax(self.params["layer_logits"].detach(), dim=-1).cpu()


class _VectorAdam:
    """torch.optim.Adam (betas 0.9/0.999, eps 1e-8, no weight decay) with a learning rate per probe."""

    def __init__(self, params, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.betas, self.eps, self.step_count = params, betas, eps, 0
        self.m = {k: torch.zeros_like(v) for k, v in params.items()}
        self.v = {k: torch.zeros_like(v) for k, v in params.items()}

    @torch.no_grad()
    def step(self, lr):
        """``lr`` [P]: per-probe learning rate (0 freezes a probe)."""
        self.step_count += 1
        beta1, beta2 = self.betas
        c1, c2 = 1 - beta1 ** self.step_count, 1 - beta2 ** self.step_count
        # lr/c1 * m / (sqrt(v/c2) + eps) == lr*sqrt(c2)/c1 * m / (sqrt(v) + eps*sqrt(c2)): the same update in 8
        # passes over memory instead of 10 (the probes' step time is memory-bound)
        step_size = lr * (math.sqrt(c2) / c1)
        for name, param in self.params.items():
            grad = param.grad
            if grad is None:
                continue
            self.m[name].lerp_(grad, 1 - beta1)
            self.v[name].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            update = self.v[name].sqrt().add_(self.eps * math.sqrt(c2))
            torch.div(self.m[name], update, out=update)
            param.sub_(update.mul_(step_size.view(-1, *([1] * (param.dim() - 1)))))
            param.grad = None


def track_average(logits, track_index, num_tracks):
    """[P, N_windows, T] window logits -> [P, num_tracks, T] per-track means (before the sigmoid, as MARBLE)."""
    sums = torch.zeros(logits.shape[0], num_tracks, logits.shape[2], device=logits.device, dtype=logits.dtype)
    sums.index_add_(1, track_index, logits)
    counts = torch.bincount(track_index, minlength=num_tracks).clamp(min=1).to(logits.dtype)
    return sums / counts[None, :, None]


@torch.no_grad()
def _predict(ensemble, features, slot=None, chunk=4096):
    """Eval-mode logits [P, N, T] of every probe for every window (in chunks to bound memory); ``slot`` [P]: the
    layer of ``features`` [N, layers, H] each single-layer probe reads (None: every probe reads them all)."""
    outputs = []
    num_probes = ensemble.params["w1"].shape[0]
    for start in range(0, features.shape[0], chunk):
        x = features[start:start + chunk]
        x = x[None].expand(num_probes, *x.shape) if slot is None else x[:, slot].transpose(0, 1)
        outputs.append(ensemble.forward(x))
    return torch.cat(outputs, dim=1)


def _track_references(labels, track_index, num_tracks):
    refs = torch.zeros(num_tracks, labels.shape[1], dtype=labels.dtype, device=labels.device)
    refs[track_index] = labels
    return refs


@contextlib.contextmanager
def _threads_for(work, device):
    """Small probes on CPU run fastest on one thread (intra-op threading costs more than it gives below ~1e7
    multiply-adds per op, and far more on a busy machine); larger ones keep torch's setting."""
    previous = torch.get_num_threads()
    single = device.type == "cpu" and work < 1e7 and previous > 1
    if single:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if single:
            torch.set_num_threads(previous)


def train_probe_grid(train, valid, test, learning_rates, seeds, layer=None, weighted_layers=None, hidden_size=512,
                     dropout=0.2, batch_size=64, max_epochs=100, early_stopping_patience=10, lr_patience=3,
                     lr_factor=0.5, threshold=0.5, tag_names=None, device="cpu", single_class="skip"):
    """Train every (learning rate, seed) probe on one layer (``layer``) or on a weighted sum (``weighted_layers``).

    ``train`` / ``valid`` / ``test`` are dicts of tensors: ``features`` [N, L+1, H], ``labels`` [N, T] (window
    rows), and for valid/test ``track_index`` [N] (0..num_tracks-1). Returns one dict per probe, seed-major
    (``probes[s * len(lrs) + i]`` is seed ``seeds[s]`` at ``learning_rates[i]``) with the best
    validation ROC-AUC, its epoch, the epochs run, test metrics (``tagging_metrics`` of track-averaged sigmoid
    scores) and, for the weighted sum, the learnt layer weights.
    """
    if (layer is None) == (weighted_layers is None):
        raise ValueError("Pass exactly one of `layer` (single-layer probe) or `weighted_layers` (weighted sum)")
    if layer is not None:
        return train_layer_probes(train, valid, test, learning_rates, seeds, [layer], hidden_size, dropout,
                                  batch_size, max_epochs, early_stopping_patience, lr_patience, lr_factor, threshold,
                                  tag_names, device, single_class)[layer]
    return _run_grid(train, valid, test, learning_rates, seeds, None, weighted_layers, hidden_size, dropout,
                     batch_size, max_epochs, early_stopping_patience, lr_patience, lr_factor, threshold, tag_names,
                     device, single_class)


def train_layer_probes(train, valid, test, learning_rates, seeds, layers, hidden_size=512, dropout=0.2,
                       batch_size=64, max_epochs=100, early_stopping_patience=10, lr_patience=3, lr_factor=0.5,
                       threshold=0.5, tag_names=None, device="cpu", single_class="skip"):
    """:func:`train_probe_grid` for several single layers at once, as one ensemble of
    ``len(layers) x |lr grid| x |seeds|`` probes (each reads its own layer; the per-step overhead is paid once).
    Returns ``{layer: [one dict per probe, seed-major]}``; a layer's probes start from the same initialisation and
    batch order as when it is trained alone."""
    layers = [int(layer) for layer in layers]
    if not layers or len(set(layers)) != len(layers):
        raise ValueError(f"`layers` must be distinct layer indices, got {layers}")
    results = _run_grid(train, valid, test, learning_rates, seeds, layers, None, hidden_size, dropout, batch_size,
                        max_epochs, early_stopping_patience, lr_patience, lr_factor, threshold, tag_names, device,
                        single_class)
    per_layer = len(learning_rates) * len(seeds)
    return {layer: results[i * per_layer:(i + 1) * per_layer] for i, layer in enumerate(layers)}


def _run_grid(train, valid, test, learning_rates, seeds, layers, weighted_layers, hidden_size, dropout, batch_size,
              max_epochs, early_stopping_patience, lr_patience, lr_factor, threshold, tag_names, device,
              single_class):
    device = torch.device(device)
    num_layers = len(layers) if weighted_layers is None else len(weighted_layers)
    work = len(learning_rates) * len(seeds) * min(batch_size, train["labels"].shape[0]) * hidden_size * \
        train["features"].shape[-1] * num_layers
    with _threads_for(work, device):
        return _train_probe_grid(train, valid, test, learning_rates, seeds, layers, weighted_layers, hidden_size,
                                 dropout, batch_size, max_epochs, early_stopping_patience, lr_patience, lr_factor,
                                 threshold, tag_names, device, single_class)


def _train_probe_grid(train, valid, test, learning_rates, seeds, layers, weighted_layers, hidden_size, dropout,
                      batch_size, max_epochs, early_stopping_patience, lr_patience, lr_factor, threshold, tag_names,
                      device, single_class="skip"):
    """One ensemble, probe-major order (layer, seed, learning rate); ``layers`` (single-layer probes) or
    ``weighted_layers`` (one weighted-sum probe per seed and learning rate)."""
    n_lr, n_seeds = len(learning_rates), len(seeds)
    n_layers = 1 if layers is None else len(layers)
    per_layer = n_lr * n_seeds
    num_probes = n_layers * per_layer
    seed_of_probe = [seeds[s] for _ in range(n_layers) for s in range(n_seeds) for _ in range(n_lr)]
    lr_of_probe = [learning_rates[i] for _ in range(n_layers) for _ in range(n_seeds) for i in range(n_lr)]
    lr = torch.tensor(lr_of_probe, device=device)

    def select(split):
        x = split["features"].to(device)
        return x[:, layers] if layers is not None else x[:, weighted_layers]  # [N, layers, H]

    train_x, train_y = select(train), train["labels"].to(device)
    valid_x, test_x = select(valid), select(test)
    in_dim, num_tags = train_x.shape[-1], train_y.shape[1]
    # single-layer probes: probe p reads slot[p] of the selected layers
    slot = torch.arange(n_layers, device=device).repeat_interleave(per_layer) if layers is not None else None
    ensemble = ProbeEnsemble(seed_of_probe, in_dim, hidden_size, num_tags,
                             num_layers=0 if weighted_layers is None else len(weighted_layers), device=device)
    optimizer = _VectorAdam(ensemble.params)

    valid_index = valid["track_index"].to(device)
    num_valid_tracks = int(valid_index.max()) + 1
    valid_refs = _track_references(valid["labels"].to(device), valid_index, num_valid_tracks).cpu().numpy()
    evaluable = (valid_refs.sum(0) > 0) & (valid_refs.sum(0) < num_valid_tracks)
    if not evaluable.any():
        raise ValueError("No tag of the validation split has both positive and negative tracks, so validation "
                         "ROC-AUC (used for early stopping and LR selection) is undefined; use a larger validation "
                         "split")

    def validation_auc():
        logits = track_average(_predict(ensemble, valid_x, slot), valid_index, num_valid_tracks)
        auc = roc_auc_columns(logits.permute(1, 0, 2).float().cpu().numpy(), valid_refs[:, None, :])  # [P, T]
        return torch.from_numpy(auc[:, evaluable].mean(1)).float()

    generators = [torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds]
    num_train = train_x.shape[0]
    best_auc = torch.full((num_probes,), -math.inf)
    best_epoch = torch.zeros(num_probes, dtype=torch.long)
    plateau_best = torch.full((num_probes,), -math.inf)
    plateau_bad = torch.zeros(num_probes, dtype=torch.long)
    active = torch.ones(num_probes, dtype=torch.bool)
    epochs_run = torch.zeros(num_probes, dtype=torch.long)
    best_params = {k: v.detach().clone() for k, v in ensemble.params.items()}
    keep = 1.0 - dropout
    for epoch in range(max_epochs):
        perms = torch.stack([torch.randperm(num_train, generator=g, device=device) for g in generators])  # [S, N]
        perms = perms.repeat_interleave(n_lr, dim=0).repeat(n_layers, 1)  # [P, N]
        step_lr = lr * active.to(device)
        for start in range(0, num_train, batch_size):
            index = perms[:, start:start + batch_size]  # [P, b]
            x = train_x[index] if slot is None else train_x[index, slot[:, None]]  # [P, b, (L,) H]
            y = train_y[index]
            mask = None
            if dropout > 0:  # per seed [layers, lrs, b, hidden], arranged probe-major
                mask = torch.stack([torch.rand((n_layers, n_lr, index.shape[1], hidden_size), generator=g,
                                               device=device) < keep for g in generators], dim=1)
                mask = mask.reshape(num_probes, index.shape[1], hidden_size).float() / keep
            logits = ensemble.forward(x, mask)
            loss = F.binary_cross_entropy_with_logits(logits, y, reduction="none").mean(dim=(1, 2))
            loss.sum().backward()  # probes are independent: the sum gives each its own gradient
            optimizer.step(step_lr)
        epochs_run += active.long()
        auc = validation_auc()
        improved = active & (auc > best_auc)
        best_auc = torch.where(improved, auc, best_auc)
        best_epoch = torch.where(improved, torch.full_like(best_epoch, epoch + 1), best_epoch)
        with torch.no_grad():
            for name, value in ensemble.params.items():
                best_params[name][improved.to(device)] = value[improved.to(device)]
        # ReduceLROnPlateau(mode="max", factor, patience, threshold=1e-4 relative), per probe
        better = auc > plateau_best * (1 + 1e-4)
        plateau_best = torch.where(better, auc, plateau_best)
        plateau_bad = torch.where(better, torch.zeros_like(plateau_bad), plateau_bad + 1)
        reduce = active & (plateau_bad > lr_patience)
        lr = torch.where(reduce.to(device), lr * lr_factor, lr)
        plateau_bad = torch.where(reduce, torch.zeros_like(plateau_bad), plateau_bad)
        active &= (epoch + 1 - best_epoch) < early_stopping_patience
        if not bool(active.any()):
            break

    with torch.no_grad():
        for name, value in ensemble.params.items():
            value.copy_(best_params[name])
    test_index = test["track_index"].to(device)
    num_test_tracks = int(test_index.max()) + 1
    test_refs = _track_references(test["labels"].to(device), test_index, num_test_tracks).cpu().numpy()
    test_scores = torch.sigmoid(track_average(_predict(ensemble, test_x, slot), test_index, num_test_tracks))
    test_scores = test_scores.float().cpu().numpy()
    layer_weights = ensemble.layer_weights()
    results = []
    for p in range(num_probes):
        metrics = tagging_metrics(test_scores[p], test_refs, threshold=threshold, tag_names=tag_names,
                                  single_class=single_class)
        results.append({
            "seed": int(seed_of_probe[p]), "learning_rate": float(lr_of_probe[p]),
            "validation_roc_auc": float(best_auc[p]), "best_epoch": int(best_epoch[p]),
            "epochs": int(epochs_run[p]), "test": metrics,
            "layer_weights": None if layer_weights is None else layer_weights[p].tolist(),
        })
    return results


def summarize_grid(results, learning_rates):
    """Pick the learning rate with the best mean validation ROC-AUC over seeds; test metrics as mean / std.

    std is the sample standard deviation over seeds (0 for a single seed).
    """
    per_lr = {}
    for lr in learning_rates:
        runs = [r for r in results if r["learning_rate"] == float(lr)]
        per_lr[float(lr)] = {
            "validation_roc_auc": float(np.mean([r["validation_roc_auc"] for r in runs])),
            "test_roc_auc": float(np.mean([r["test"]["roc_auc"] for r in runs])),
            "epochs": [r["epochs"] for r in runs],
        }
    best_lr = max(per_lr, key=lambda k: (np.nan_to_num(per_lr[k]["validation_roc_auc"], nan=-1.0), -k))
    runs = [r for r in results if r["learning_rate"] == best_lr]
    test = {}
    for key in ("roc_auc", "average_precision", "micro_f1", "macro_f1", "top1_accuracy"):
        values = np.array([r["test"][key] for r in runs], dtype=np.float64)
        test[key] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                     "values": values.tolist()}
    summary = {
        "best_learning_rate": best_lr,
        "validation_roc_auc": per_lr[best_lr]["validation_roc_auc"],
        "test": test,
        "per_learning_rate": {str(k): v for k, v in per_lr.items()},
        "seeds": [{"seed": r["seed"], "validation_roc_auc": r["validation_roc_auc"], "best_epoch": r["best_epoch"],
                   "epochs": r["epochs"], "test": {k: r["test"][k] for k in ("roc_auc", "average_precision",
                                                                             "micro_f1", "macro_f1",
                                                                             "top1_accuracy")},
                   "per_tag": r["test"]["per_tag"], "skipped_tags": r["test"]["skipped_tags"]} for r in runs],
    }
    weights = [r["layer_weights"] for r in runs if r["layer_weights"] is not None]
    if weights:
        summary["layer_weights"] = np.mean(weights, axis=0).tolist()
    return summary
