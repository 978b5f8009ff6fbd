"""The package's own pre-training options, without torch or transformers (``--help`` and argument checks stay fast).

``PretrainingArguments`` (``arguments.py``) is these options on top of ``transformers.TrainingArguments``; the
MERT optimiser defaults at the end override Trainer defaults: Adam(0.9, 0.98), eps 1e-6, weight decay 0.01, clip
norm 10.
"""

from dataclasses import dataclass, field
from typing import Optional

# fields below that override a TrainingArguments field's default (listed under the Trainer options in --help)
TRAINER_OVERRIDES = ("adam_beta1", "adam_beta2", "adam_epsilon", "weight_decay", "max_grad_norm",
                     "remove_unused_columns", "logging_steps", "save_steps", "save_total_limit")
DEFAULT_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "intermediate_dense", "output_dense"]


@dataclass
class PretrainingOptions:
    # ----------------------------------------------------------------- starting point
    model_name_or_path: Optional[str] = field(
        default="m-a-p/MERT-v1-95M",
        metadata={"help": "Starting checkpoint: Hub id, short name (mert-v1-95m) or local folder. A bare MERTModel "
                          "checkpoint gets freshly initialised pre-training heads (logged); a folder written by this "
                          "trainer or by `culturemert convert-fairseq` also restores the trained heads."})
    config_name: Optional[str] = field(
        default=None,
        metadata={"help": "Start from random weights with this config instead: a config.json path, '95M', '330M' "
                          "(the packaged MERT-v1 configs) or 'tiny' (CPU tests). Used when model_name_or_path is "
                          "empty."})
    fairseq_checkpoint: Optional[str] = field(
        default=None,
        metadata={"help": "Original fairseq checkpoint (MERT-v1-95M_fairseq.pt) to start from, with its trained "
                          "heads; converted to <output_dir>/init-fairseq first. Overrides model_name_or_path."})
    trust_pickle: bool = field(
        default=False,
        metadata={"help": "Allow full unpickling of a fairseq checkpoint that torch.load(weights_only=True) "
                          "refuses. Only for files from a source you trust: unpickling can run arbitrary code."})
    freeze: list[str] = field(
        default_factory=list,
        metadata={"help": "Backbone parts to freeze, as MERTModel module prefixes: feature_extractor (the CNN), "
                          "feature_projection, encoder.pos_conv_embed, encoder.layers.0, ..., masked_spec_embed."})
    feature_grad_mult: float = field(
        default=0.1, metadata={"help": "Gradient scale into the CNN front end (fairseq feature_grad_mult)."})
    # ----------------------------------------------------------------- objective
    mask_prob: float = field(default=0.8, metadata={"help": "Span-mask probability (MERT: 0.8)."})
    mask_length: int = field(default=5, metadata={"help": "Span length in frames (MERT: 5)."})
    mask_min_masks: int = field(default=2, metadata={"help": "Minimum number of spans per clip (MERT: 2)."})
    apply_mask: bool = field(
        default=True, metadata={"help": "Mask frames (with the learned mask embedding) and predict them."})
    noise_mixup: bool = field(default=True, metadata={"help": "In-batch noise mixup (MERT's augmentation)."})
    mixup_probability: float = field(default=0.5, metadata={"help": "Probability that a clip gets mixed noise."})
    mixup_min_segments: int = field(default=1, metadata={"help": "Fewest segments mixed into a clip."})
    mixup_max_segments: int = field(default=3, metadata={"help": "Most segments mixed into a clip."})
    mixup_min_seconds: float = field(default=0.5, metadata={"help": "Shortest mixed segment (s)."})
    mixup_max_seconds: float = field(default=1.0, metadata={"help": "Longest mixed segment (s); 330M used 1.5."})
    mixup_volume: float = field(default=1.0, metadata={"help": "Gain of the mixed segments."})
    use_codebook_loss: bool = field(default=True, metadata={"help": "Predict EnCodec codes (acoustic target)."})
    use_cqt_loss: bool = field(default=True, metadata={"help": "Reconstruct the CQT (musical target)."})
    cqt_loss_weight: float = field(default=1.0, metadata={"help": "Weight of the CQT MSE (MERT: 1)."})
    cqt_implementation: str = field(default="trimmed", metadata={
        "help": "How the CQT target is computed: 'trimmed' (MERT's nnAudio CQT, same numbers, cheaper), 'multirate' "
                "(octave-wise decimation, ~1e-4 relative error, 3-6x cheaper; the miniature's choice) or 'nnaudio'."})
    feature_penalty_weight: float = field(
        default=10.0, metadata={"help": "Weight of the CNN feature penalty (MERT: 10)."})
    encodec_model: str = field(
        default="facebook/encodec_24khz",
        metadata={"help": "EnCodec teacher: Hub id or folder; 'random-tiny' / 'random-24khz' for offline tests."})
    encodec_bandwidth: float = field(default=6.0, metadata={"help": "EnCodec bandwidth in kbps (6.0 = 8 codebooks)."})
    precompute_codes: bool = field(
        default=False,
        metadata={"help": "Compute EnCodec codes of whole tracks once with datasets.map (cached) and crop them with "
                          "the audio, instead of running the teacher every step. Map-style datasets only."})
    # ----------------------------------------------------------------- data
    train_datasets: list[str] = field(
        default_factory=list,
        metadata={"help": "Training corpora: registry names (lyra, makam, hindustani, carnatic, western), local "
                          "dataset folders, or 'sine:N[:seed]' (built-in synthetic clips). Several are concatenated."})
    replay_datasets: list[str] = field(
        default_factory=list, metadata={"help": "Replay corpora (e.g. western) interleaved with the training data."})
    replay_probability: float = field(
        default=0.2, metadata={"help": "Share of replay examples (datasets.interleave_datasets probability)."})
    data_root: Optional[str] = field(
        default=None,
        metadata={"help": "Folder holding one dataset folder per registry name (e.g. the synthetic corpus); "
                          "registry names are loaded from the Hub otherwise."})
    train_split: str = field(default="train", metadata={"help": "Split to train on."})
    streaming: bool = field(
        default=False, metadata={"help": "Stream the corpora (larger than RAM/disk); requires max_steps."})
    shuffle_buffer_size: int = field(default=1000, metadata={"help": "Shuffle buffer of streaming datasets."})
    audio_column: str = field(default="audio", metadata={"help": "Audio column of the datasets."})
    crop_seconds: float = field(default=5.0, metadata={"help": "Random crop length (MERT: 5 s)."})
    min_crop_seconds: float = field(
        default=3.0, metadata={"help": "Clips shorter than this are skipped (MERT: 3 s); a batch is cut to its "
                                       "shortest clip."})
    # ----------------------------------------------------------------- parameter-efficient
    lora_rank: int = field(default=0, metadata={"help": "LoRA rank; 0 trains the full backbone."})
    lora_alpha: Optional[float] = field(default=None, metadata={"help": "LoRA alpha (default 2 x rank)."})
    lora_dropout: float = field(default=0.0, metadata={"help": "Dropout on the LoRA branch."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: list(DEFAULT_LORA_TARGETS),
        metadata={"help": "Backbone linear layers that get LoRA (attention q/k/v/out and feed-forward)."})
    lora_merge: bool = field(
        default=True, metadata={"help": "Also write the merged full model (merge_and_unload) to output_dir."})
    # ----------------------------------------------------------------- telemetry
    peak_tflops: Optional[float] = field(
        default=None, metadata={"help": "Device peak TFLOP/s for the MFU estimate (auto for known GPUs)."})
    profile_teachers: bool = field(
        default=False, metadata={"help": "Synchronise around the teachers to log their exact time share."})
    card_text: Optional[str] = field(default=None, metadata={"help": "Model card text for the output folder."})
    keep_checkpoints: bool = field(
        default=False,
        metadata={"help": "Keep checkpoint-* folders (optimizer states) in output_dir after a successful run; by "
                          "default they are removed so that the folder is a clean Hub upload."})

    # ----------------------------------------------------------------- MERT optimiser defaults
    adam_beta1: float = field(default=0.9, metadata={"help": "Adam beta1 (MERT: 0.9)."})
    adam_beta2: float = field(default=0.98, metadata={"help": "Adam beta2 (MERT: 0.98)."})
    adam_epsilon: float = field(default=1e-6, metadata={"help": "Adam epsilon (MERT: 1e-6)."})
    weight_decay: float = field(default=0.01, metadata={"help": "Weight decay (MERT: 0.01)."})
    max_grad_norm: float = field(default=10.0, metadata={"help": "Gradient clipping norm (MERT 95M: 10)."})
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Must stay False: the collator needs the audio and id columns."})
    logging_steps: float = field(default=10, metadata={"help": "Log every N steps."})
    save_steps: float = field(default=500, metadata={"help": "Checkpoint every N steps."})
    save_total_limit: Optional[int] = field(default=2, metadata={"help": "Checkpoints kept (oldest removed)."})
