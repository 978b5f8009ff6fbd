"""The CultureMERT Gradio demo: tag predictions per tradition and a layer-wise view, for several models side by side.

The Space's ``app.py`` only calls :func:`build_demo`; everything else lives here so that it is importable, testable
and shared with ``culturemert demo``. Pieces:

- :func:`train_demo_heads`: the probe heads per tradition (:class:`hf_culturemert.probing.heads.ProbeHeads`,
  trained there), on pooled features of the synthetic corpus, driven by the Space's ``train_heads.py``; stored as one
  safetensors file + JSON (tag names, validation ROC-AUC, the model they were trained for). They also hold each
  tradition's centroid of pooled features per layer, for the layer-wise view.
- :func:`load_demo_models`: the Hub models when they can be loaded (cache first, then the Hub with a short
  timeout), else tiny random stand-ins shipped with the Space (``heads/tiny--<model>/model``), flagged in the UI.
- :class:`DemoAnalyzer`: validates the upload (size, format, silence, duration), decodes it once, runs every model
  over 5 s windows (:func:`hf_culturemert.features.extract_features`) and returns JSON-able results + a figure.
"""

import dataclasses
import json
import logging
import re
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from .constants import SAMPLING_RATE
from .demo_arguments import (DEFAULT_MODELS, HEADS_ENV, MAX_SECONDS_ENV, MODELS_ENV, OFFLINE_ENV,  # noqa: F401
                             DemoArguments)
from .probing.heads import HEADS_FILE, ProbeHeads, train_probe_heads

logger = logging.getLogger(__name__)

TINY_PREFIX = "tiny--"


def model_slug(model_id: str) -> str:
    """File-system name for a model id: ``m-a-p/MERT-v1-95M`` -> ``m-a-p--MERT-v1-95M``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "--", str(model_id).strip("/"))


def corpus_features(model, corpus: Dict[str, object], split: str = "train", window_seconds: float = 5.0,
                    max_clips: Optional[int] = None) -> Dict[str, tuple]:
    """Pooled features of a synthetic-corpus split: {tradition: (features [N, L, H], labels [N, T], tags)}.

    ``corpus``: {tradition: folder} as returned by ``hf_culturemert.data.build_synthetic_corpus``.
    """
    from tqdm.auto import tqdm

    from .audio import load_audio
    from .data.hub_layout import read_vocabulary
    from .data.loading import load_tradition
    from .features import extract_features

    out = {}
    for name, folder in corpus.items():
        dataset = load_tradition(f"synthetic-{name}", split, repo_id=folder)
        dataset = dataset.cast_column("audio", _undecoded_audio())
        if max_clips is not None:
            dataset = dataset.select(range(min(max_clips, len(dataset))))
        tags = read_vocabulary(folder) or []
        feats, labels = [], []
        for example in tqdm(dataset, desc=f"{name}/{split}", leave=False):
            wave = load_audio(example["audio"], SAMPLING_RATE)
            feats.append(extract_features(model, wave, SAMPLING_RATE, window_seconds=window_seconds).pooled)
            labels.append(example["labels"])
        out[name] = (torch.stack(feats), np.asarray(labels, dtype=np.float32), tags)
    return out


def _undecoded_audio():
    from datasets import Audio

    return Audio(decode=False)


def train_demo_heads(model, corpus: Dict[str, object], output_dir, model_id: str, hidden_size: int = 0,
                     epochs: int = 200, l2: float = 3e-2, window_seconds: float = 5.0, max_clips: Optional[int] = None,
                     seed: int = 0) -> ProbeHeads:
    """Features of the corpus' train/validation splits -> heads saved in ``output_dir`` (what train_heads.py runs)."""
    train = corpus_features(model, corpus, "train", window_seconds, max_clips)
    try:
        validation = corpus_features(model, corpus, "validation", window_seconds, max_clips)
    except ValueError as error:  # a corpus built without a validation split
        logger.warning("No validation split (%s); heads are saved without validation scores", error)
        validation = None
    config = getattr(model, "mert", model).config
    meta = {"model_id": model_id, "num_states": config.num_hidden_layers + 1, "hidden_size": config.hidden_size,
            "window_seconds": window_seconds, "trained_on": "hf_culturemert synthetic corpus",
            "train_clips": {t: int(v[0].shape[0]) for t, v in train.items()}}
    heads = train_probe_heads(train, validation, hidden_size=hidden_size, epochs=epochs, l2=l2, seed=seed, meta=meta)
    heads.save(output_dir)
    logger.info("Saved probe heads for %s to %s (validation ROC-AUC %s)", model_id, output_dir,
                heads.meta["validation_roc_auc"])
    return heads


# ---------------------------------------------------------------------------------------------------------------
# Models: Hub when reachable, tiny stand-ins otherwise
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class DemoModel:
    model_id: str
    model: torch.nn.Module
    heads: Optional[ProbeHeads]
    fallback: bool = False
    note: str = ""

    @property
    def display_name(self) -> str:
        return f"{self.model_id} (tiny stand-in)" if self.fallback else self.model_id


def save_stand_in(model, folder) -> Path:
    """Save a tiny stand-in as weights + config only (``heads/tiny--<model>/model``).

    The Space installs hf_culturemert and loads its stand-ins with the package's classes (:func:`load_model`, no
    ``trust_remote_code``), so the folder carries no copy of the remote code and no ``auto_map`` pointing to one.
    """
    from .export import REMOTE_CODE_FILES, save_model_folder

    folder = Path(save_model_folder(model, folder))
    for name in REMOTE_CODE_FILES:  # exactly what save_pretrained just wrote
        (folder / name).unlink()
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.pop("auto_map", None) is not None:
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return folder


def _hub_unreachable_reason(model_id: str, timeout: float) -> Optional[str]:
    """``None`` when the Hub answers for ``model_id`` within ``timeout`` s, else why not."""
    from huggingface_hub import HfApi, constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    try:
        HfApi().model_info(model_id, timeout=timeout)
    except Exception as error:  # noqa: BLE001 -- any failure (DNS, proxy, 404, timeout) means "use the fallback"
        return f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
    return None


def _load_real(model_id: str, offline: bool, timeout: float):
    """(model, None) or (None, reason)."""
    from .export import load_model, resolve_model_id

    source = resolve_model_id(model_id)
    if Path(source).exists():
        return load_model(source).eval(), None
    if offline:
        return None, "offline mode"
    try:  # the local Hugging Face cache first: no network needed
        return load_model(source, local_files_only=True).eval(), None
    except (OSError, ValueError):
        pass
    reason = _hub_unreachable_reason(source, timeout)
    if reason:
        return None, reason
    try:
        return load_model(source).eval(), None
    except (OSError, ValueError, RuntimeError) as error:
        return None, f"{type(error).__name__}: {error}"


def _load_heads(folder: Path, config, model_id: str) -> tuple:
    if not (folder / HEADS_FILE).is_file():
        return None, f"no probe heads for {model_id} in {folder.parent}: run spaces/culturemert-demo/train_heads.py"
    heads = ProbeHeads.load(folder)
    if not heads.compatible_with(config):
        return None, (f"the probe heads in {folder} were trained for {heads.num_states} states x {heads.hidden_size} "
                      f"and do not fit {model_id}; retrain them")
    return heads, ""


def load_demo_models(model_ids: Sequence[str], heads_dir, offline: bool = False,
                     hub_timeout: float = 5.0) -> List[DemoModel]:
    """Each model with its heads; a model that cannot be loaded becomes its tiny stand-in (``fallback=True``)."""
    from .export import load_model
    from .backends import for_inference  # a Space runs on CPU: the fastest installed engine, same features
    from .testing import random_model, tiny_mert_config

    heads_dir = Path(heads_dir)
    out = []
    for model_id in model_ids:
        model, reason = _load_real(model_id, offline, hub_timeout)
        if model is not None:
            heads, note = _load_heads(heads_dir / model_slug(model_id), model.config, model_id)
            out.append(DemoModel(model_id, for_inference(model), heads, fallback=False, note=note))
            continue
        tiny_dir = heads_dir / f"{TINY_PREFIX}{model_slug(model_id)}"
        if (tiny_dir / "model" / "config.json").is_file():
            model = load_model(tiny_dir / "model").eval()
        else:
            model = random_model(tiny_mert_config(), seed=zlib.crc32(model_id.encode()) % 2 ** 31)
        heads, note = _load_heads(tiny_dir, model.config, f"the tiny stand-in of {model_id}")
        logger.warning("Using a tiny random stand-in for %s (%s)", model_id, reason)
        out.append(DemoModel(model_id, for_inference(model), heads, fallback=True,
                             note=f"{model_id} could not be loaded ({reason}); {note or 'tiny stand-in in use'}"))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Analysis (no Gradio here: the UI wraps it)
# ---------------------------------------------------------------------------------------------------------------


class DemoInputError(ValueError):
    """The user's input cannot be analysed; the message says why and what to do, in a listener's words."""


@dataclass
class Analysis:
    """One clip's results, keyed by model id (the stand-in flag is in ``models``, never in a key)."""

    duration: float  # seconds of the file
    analysed_seconds: float
    num_windows: int
    models: Dict[str, dict]  # model id -> {"stand_in": bool, "display_name": str, "note": str}
    predictions: Dict[str, Dict[str, Dict[str, float]]]  # model id -> tradition -> raw tag -> probability
    layer_similarity: Dict[str, dict]  # model id -> {"traditions": [...], "layers": [...], "values": [[...]]}
    warnings: List[str]
    timings: Dict[str, float]  # model id -> seconds

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


TRADITION_NAMES = {"western": "Western", "lyra": "Greek folk (Lyra)", "makam": "Turkish makam",
                   "hindustani": "Hindustani", "carnatic": "Carnatic"}
TAG_FAMILIES = {"instruments": "instrument", "genres": "genre"}  # the Lyra corpus' plural family names
FILE_FORMATS = "wav, flac, mp3, ogg, m4a or another common audio format"


def tradition_name(tradition: str) -> str:
    """``makam`` -> ``Turkish makam``; unknown traditions are capitalised."""
    return TRADITION_NAMES.get(tradition, tradition.replace("_", " ").capitalize())


def tag_name(tag: str) -> str:
    """A tag as a listener reads it: ``instrument--Tabla`` -> ``Tabla (instrument)``, ``no vocals`` -> ``No vocals``."""
    family, sep, name = tag.partition("--")
    if not sep:
        family, name = "", tag
    name = name[:1].upper() + name[1:]
    return f"{name} ({TAG_FAMILIES.get(family, family)})" if family else name


def readable_scores(scores: Dict[str, float]) -> Dict[str, float]:
    """{raw tag: p} -> {readable tag: p}; a readable name that two raw tags share keeps the raw tags."""
    names = [tag_name(tag) for tag in scores]
    return {(name if names.count(name) == 1 else tag): p for (tag, p), name in zip(scores.items(), names)}


def audio_duration(path) -> Optional[float]:
    """Duration in seconds from the container header (``None`` when the header does not say); DemoInputError when
    the file is not decodable audio."""
    from torchcodec.decoders import AudioDecoder

    try:
        metadata = AudioDecoder(str(path)).metadata
    except (RuntimeError, ValueError, IndexError) as error:
        logger.debug("Decoder refused %s: %s", path, error)
        raise _undecodable(Path(path).name) from error
    return metadata.duration_seconds_from_header


def _undecodable(name: str) -> DemoInputError:
    return DemoInputError(f"{name} could not be played: it is damaged or not an audio file. Upload a recording in "
                          f"{FILE_FORMATS}.")


class DemoAnalyzer:
    """Validate one upload and run every model on it."""

    progress_batch_size = 4  # windows per forward pass: the progress text moves every 4 windows (20 s of audio)

    def __init__(self, models: Sequence[DemoModel], args: Optional[DemoArguments] = None):
        self.models = list(models)
        self.args = args or DemoArguments(models=[m.model_id for m in models])

    @property
    def traditions(self) -> List[str]:
        names = []
        for entry in self.models:
            for name in (entry.heads.traditions if entry.heads else []):
                if name not in names:
                    names.append(name)
        return names

    def limits_text(self) -> str:
        """What the page says under the upload box, before anything is uploaded."""
        return (f"Accepts {FILE_FORMATS}, **up to {self.args.max_file_mb:g} MB** (the upload box refuses a larger "
                "file; clear it with ×). The first "
                f"{self.args.max_seconds:g} s are analysed, in {self.args.window_seconds:g} s windows; at least "
                f"{self.args.min_seconds:g} s of sound is needed.")

    def load(self, path) -> tuple:
        """(waveform at 24 kHz, file duration, warnings); DemoInputError with the reason for unusable input."""
        from .audio import SILENCE_PEAK, load_audio

        if path is None or str(path) == "":
            raise DemoInputError("No audio: upload a file or record a clip first.")
        path = Path(path)
        if not path.is_file():
            raise DemoInputError(f"The uploaded file {path.name} is gone; upload it again.")
        size_mb = path.stat().st_size / 2 ** 20
        if size_mb > self.args.max_file_mb:
            raise DemoInputError(f"{path.name} is {size_mb:.1f} MB; the limit is {self.args.max_file_mb:g} MB. "
                                 "Upload a shorter or compressed clip.")
        if path.stat().st_size == 0:
            raise DemoInputError(f"{path.name} is empty (0 bytes): upload the recording again.")
        duration = audio_duration(path)
        warnings = []
        end = None
        if duration is not None and duration > self.args.max_seconds:
            end = self.args.max_seconds
            warnings.append(f"The recording is {duration:.1f} s long; only its first {self.args.max_seconds:g} s are "
                            f"analysed (limit of this demo).")
        try:
            wave = load_audio(path, SAMPLING_RATE, end_seconds=end, allow_silent=True)
        except ValueError as error:
            logger.debug("Decoder refused %s: %s", path, error)
            raise (DemoInputError(f"{path.name} contains no sound to analyse: upload a recording with music in it.")
                   if "zero samples" in str(error) else _undecodable(path.name)) from error
        if float(np.abs(wave).max()) < SILENCE_PEAK:
            raise DemoInputError(f"{path.name} is silent: nothing can be heard in it. Check that the microphone or the "
                                 "recording is not muted, then try again.")
        if duration is None:
            duration = len(wave) / SAMPLING_RATE
            if duration > self.args.max_seconds:
                wave = wave[: int(self.args.max_seconds * SAMPLING_RATE)]
                warnings.append(f"The recording is {duration:.1f} s long; only its first {self.args.max_seconds:g} "
                                "s are analysed (limit of this demo).")
        if len(wave) < self.args.min_seconds * SAMPLING_RATE:
            raise DemoInputError(f"{path.name} is only {len(wave) / SAMPLING_RATE:.2f} s long; upload at least "
                                 f"{self.args.min_seconds:g} s of audio.")
        return wave, duration, warnings

    def analyze(self, path, progress=None) -> Analysis:
        """Predictions and layer-wise similarities of every model for the audio at ``path``.

        ``progress(fraction, desc=...)`` (e.g. ``gr.Progress``) hears which model runs and how many windows are done.
        """
        from .features import extract_features

        if progress is not None:
            progress(0.0, desc="Reading the audio")
        wave, duration, warnings = self.load(path)
        models, predictions, similarity, timings = {}, {}, {}, {}
        num_windows = 0
        for index, entry in enumerate(self.models):
            models[entry.model_id] = {"stand_in": entry.fallback, "display_name": entry.display_name,
                                      "note": entry.note}
            step = None
            if progress is not None:
                def step(done, total, index=index, name=entry.display_name):
                    progress((index + done / total) / len(self.models),
                             desc=f"Model {index + 1}/{len(self.models)}, {name}: window {done}/{total}")
            start = time.perf_counter()
            features = extract_features(entry.model, wave, SAMPLING_RATE, window_seconds=self.args.window_seconds,
                                        batch_size=self.progress_batch_size, on_batch=step)
            num_windows = len(features.window_starts)
            if entry.heads is None:
                warnings.append(f"{entry.display_name}: {entry.note or 'no probe heads'}")
            else:
                predictions[entry.model_id] = entry.heads.predict(features.pooled)
                similarity[entry.model_id] = {"traditions": entry.heads.traditions,
                                              "layers": list(features.layers),
                                              "values": entry.heads.layer_similarity(features.pooled).tolist()}
            timings[entry.model_id] = round(time.perf_counter() - start, 3)
        return Analysis(duration=float(duration), analysed_seconds=len(wave) / SAMPLING_RATE, num_windows=num_windows,
                        models=models, predictions=predictions, layer_similarity=similarity, warnings=warnings,
                        timings=timings)


def layer_figure(analysis: Analysis, model_id: str):
    """Heat map of one model: traditions x layers, cosine similarity of the clip to each tradition's centroid.

    One square figure per model, so that a phone's 390 px screen shows it over 300 px tall.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 4.6), constrained_layout=True)
    item = analysis.layer_similarity.get(model_id)
    stand_in = analysis.models.get(model_id, {}).get("stand_in")
    ax.set_title(f"{model_id}{' (tiny stand-in)' if stand_in else ''}", fontsize=10)
    if item is None:
        ax.text(0.5, 0.5, "no probe heads loaded", ha="center", va="center")
        ax.set_axis_off()
        return fig
    image = ax.imshow(np.asarray(item["values"]), aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_yticks(range(len(item["traditions"])), [tradition_name(t) for t in item["traditions"]], fontsize=9)
    ax.set_xticks(range(len(item["layers"])), [str(i) for i in item["layers"]], fontsize=8)
    ax.set_xlabel("layer (0 = CNN + positional embedding)", fontsize=9)
    fig.colorbar(image, ax=ax, orientation="horizontal", location="bottom", shrink=0.9,
                 label="cosine to the tradition's centroid")
    return fig


# ---------------------------------------------------------------------------------------------------------------
# Gradio UI
# ---------------------------------------------------------------------------------------------------------------

INTRO = """# CultureMERT: what do music models hear across traditions?
Upload or record music. Each model's features are probed with small heads trained per tradition (Western, Greek
folk *Lyra*, Turkish *makam*, *Hindustani*, *Carnatic*), side by side for
[MERT-v1-95M](https://huggingface.co/m-a-p/MERT-v1-95M) and the culturally adapted
[CultureMERT-95M](https://huggingface.co/ntua-slp/CultureMERT-95M) /
[CultureMERT-TA-95M](https://huggingface.co/ntua-slp/CultureMERT-TA-95M)
([paper](https://arxiv.org/abs/2506.17818))."""
PLACEHOLDER = "Upload or record a clip to see what each model hears."
TOP_TAG_NOTE = ("Best tag of each tradition's head. A head knows only its own tradition's tags and scores each one "
                "on its own: 80% means the tag likely applies *if* the clip is music of that tradition, not that it "
                "is.")


def _status_markdown(models: Sequence[DemoModel]) -> str:
    lines = []
    fallback = [m for m in models if m.fallback]
    if fallback:
        lines.append("> **Offline mode:** " + ", ".join(f"`{m.model_id}`" for m in fallback)
                     + " could not be loaded from the Hugging Face Hub, so tiny randomly initialised stand-ins "
                     "(with heads trained on the synthetic corpus) are shown. Their predictions only illustrate the "
                     "interface.")
    for entry in models:
        if entry.heads is None:
            lines.append(f"> `{entry.model_id}`: {entry.note}")
    return "\n\n".join(lines)


def _summary_markdown(analysis: Analysis) -> str:
    total = sum(analysis.timings.values())
    lines = [f"**Analysed** {analysis.analysed_seconds:.1f} s of {analysis.duration:.1f} s in "
             f"{analysis.num_windows} window(s), {total:.1f} s for {len(analysis.timings)} model(s).", "",
             TOP_TAG_NOTE, ""]
    for model_id, per in analysis.predictions.items():
        stand_in = " (tiny stand-in)" if analysis.models[model_id]["stand_in"] else ""
        best = []
        for tradition, tags in per.items():
            tag, p = max(tags.items(), key=lambda item: item[1])
            best.append(f"{tradition_name(tradition)}: {tag_name(tag)} {p:.0%}")
        lines.append(f"- **{model_id}**{stand_in}: " + " · ".join(best))
    lines += [f"- ⚠️ {text}" for text in analysis.warnings]
    return "\n".join(lines)


def _error_markdown(message: str) -> str:
    return f"### Cannot analyse this audio\n{message}"


def build_demo(args: Optional[DemoArguments] = None, models: Optional[Sequence[DemoModel]] = None):
    """The Gradio Blocks app (not launched). ``models`` defaults to :func:`load_demo_models` of ``args``.

    API (``gradio_client``): ``/predict`` takes the audio file and returns the summary, one label per model and
    tradition, one plot per model and the scores (JSON); refused input raises an error naming the reason. The page
    runs the same analysis, but clears the previous results first and shows a refusal in place of the summary.
    """
    import gradio as gr

    args = args or DemoArguments()
    if models is None:
        models = load_demo_models(args.models, args.heads_dir, offline=args.offline, hub_timeout=args.hub_timeout)
    analyzer = DemoAnalyzer(models, args)
    traditions = analyzer.traditions
    named = [m for m in models if m.heads is not None]

    with gr.Blocks(title="CultureMERT demo") as demo:
        gr.Markdown(INTRO)
        gr.Markdown(_status_markdown(models), elem_id="model-status")
        with gr.Row():
            with gr.Column():
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Music clip",
                                 elem_id="audio-input")
                gr.Markdown(analyzer.limits_text(), elem_id="input-limits")
            with gr.Column():
                button = gr.Button("Analyse", variant="primary", elem_id="analyse-button")
                summary = gr.Markdown(PLACEHOLDER, label="Summary", elem_id="summary", min_height=120)
        labels = {}
        with gr.Tabs():
            for tradition in traditions:
                with gr.Tab(tradition_name(tradition)):
                    with gr.Row():
                        for entry in named:
                            if tradition in entry.heads.tags:
                                labels[(entry.model_id, tradition)] = gr.Label(
                                    num_top_classes=5, label=f"{tradition_name(tradition)} tags: {entry.model_id}",
                                    show_heading=False, elem_classes=["tag-label"])
        gr.Markdown("### Layer by layer: which tradition does each layer's representation resemble?")
        plots = {}
        with gr.Row(elem_id="layer-plots"):
            for entry in models:
                plots[entry.model_id] = gr.Plot(label=f"Layer similarity: {entry.model_id}", show_label=False,
                                                min_width=320, elem_classes=["layer-plot"])
        with gr.Accordion("All scores (JSON, also returned by the API)", open=False):
            raw = gr.JSON(label="Scores (JSON)", elem_id="scores")
        keys = list(labels)
        cleared = [None] * (len(labels) + len(plots) + 1)

        def results(analysis: Analysis) -> list:
            values = [readable_scores(analysis.predictions[m][t]) if t in analysis.predictions.get(m, {}) else None
                      for m, t in keys]
            return [_summary_markdown(analysis), *values, *(layer_figure(analysis, m) for m in plots),
                    analysis.to_json()]

        def predict(audio, progress=gr.Progress()):
            """Analyse one clip: summary, labels per model and tradition, layer plots per model, scores (JSON)."""
            try:
                analysis = analyzer.analyze(audio, progress=progress)
            except DemoInputError as error:
                logger.info("Refused input: %s", error)
                raise gr.Error(str(error), title="Cannot analyse this audio", print_exception=False) from None
            return results(analysis)

        def analyse_on_page(audio, progress=gr.Progress()):
            try:
                analysis = analyzer.analyze(audio, progress=progress)
            except DemoInputError as error:
                logger.info("Refused input: %s", error)
                return [_error_markdown(str(error)), *cleared]
            except Exception as error:  # noqa: BLE001 -- a bug: logged with its traceback, the page says so plainly
                logger.exception("Analysis failed")
                return [_error_markdown(f"The analysis failed ({type(error).__name__}). Try again; if it keeps "
                                        "failing, please report it with the file."), *cleared]
            return results(analysis)  # warnings (a cut recording, a model without heads) are in the summary

        def clear_results():
            return ["", *cleared]  # the summary is empty while the progress text runs over it

        outputs = [summary, *labels.values(), *plots.values(), raw]
        for name, trigger in (("button", button.click), ("upload", audio.upload),
                              ("recording", audio.stop_recording)):
            trigger(clear_results, inputs=None, outputs=outputs, show_progress="hidden",
                    api_name=f"clear_on_{name}", api_visibility="private").then(
                analyse_on_page, inputs=audio, outputs=outputs, show_progress_on=[summary],
                api_name=f"analyse_on_{name}", api_visibility="private")
        api_trigger = gr.Button(visible=False, elem_id="api-predict")  # the API's event: errors raise, page untouched
        api_trigger.click(predict, inputs=audio, outputs=outputs, api_name="predict", show_progress="hidden")
    demo.analyzer = analyzer
    return demo


def launch(args: Optional[DemoArguments] = None, **launch_kwargs):
    """Build and serve the demo (blocks unless ``prevent_thread_lock=True`` is passed)."""
    args = args or DemoArguments()
    demo = build_demo(args)
    demo.queue(default_concurrency_limit=1)
    return demo.launch(server_name=args.host, server_port=args.port, share=args.share,
                       max_file_size=args.max_file_bytes, **launch_kwargs)
