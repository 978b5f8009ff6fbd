"""Publish model, dataset and Space folders to the Hugging Face Hub, with a dry run that shows exactly what would go.

One code path for the three kinds: list the folder with the same ignore rules ``HfApi.upload_folder`` applies, check
that the folder is valid for its kind (a model repo that cannot load, a dataset without ``configs`` or a Space without
an ``sdk`` is refused before anything is created), then ``create_repo`` + ``upload_folder``.

Tokens come from ``token=``, ``$HF_TOKEN`` or the cached ``huggingface-cli login``; they are handed to ``HfApi`` and
never logged, printed or written anywhere.
"""

import dataclasses
import json
import logging
import os
import re
from pathlib import Path
from typing import List, Optional

logger = logging.getLogger(__name__)

KINDS = ("model", "dataset", "space")
SPACE_SDKS = ("gradio", "streamlit", "docker", "static")
# Build leftovers that never belong in a Hub repo (matched like ``upload_folder``'s fnmatch patterns).
DEFAULT_IGNORE = [
    "__pycache__", "__pycache__/*", "*/__pycache__", "*/__pycache__/*", "*.pyc", "*.pyo",
    ".cache", ".cache/*", "*/.cache", "*/.cache/*",
    ".build", ".build/*", ".gradio", ".gradio/*", "flagged/*", ".ipynb_checkpoints/*", "*/.ipynb_checkpoints/*",
    ".DS_Store", "*/.DS_Store", "*.tmp", ".env", ".venv/*", "*.egg-info/*",
]
# files that look like credentials (fnmatch on the file name, lower case): refused unless allowed by name
SECRET_NAMES = ("token", "*.token", "*token.txt", "*secret*", "*credential*", ".env*", "*.env", ".netrc",
                "id_rsa*", "id_ed25519*", "id_ecdsa*", "*.pem", "*.key", "*.p12", "*.pfx", ".git-credentials")
# content that is a credential: a Hugging Face token, a private key, an AWS access key
SECRET_CONTENT = re.compile(rb"\bhf_[A-Za-z0-9]{30,}\b|-----BEGIN [A-Z ]*PRIVATE KEY-----|\bAKIA[0-9A-Z]{16}\b")
SCANNED_BYTES = 1 << 20  # the first MiB of each file is searched for SECRET_CONTENT
MAX_FILE_GB = 50.0  # the Hub's limit per file
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
DATA_SUFFIXES = (".parquet", ".arrow", ".csv", ".tsv", ".json", ".jsonl", ".txt", ".wav", ".flac", ".mp3", ".ogg",
                 ".tar", ".zip", ".gz")


def _hub_default_ignore():
    try:  # what upload_folder always adds (.git, .cache/huggingface); private in huggingface_hub, hence the fallback
        from huggingface_hub.utils._paths import DEFAULT_IGNORE_PATTERNS

        return list(DEFAULT_IGNORE_PATTERNS)
    except ImportError:
        return [".git", ".git/*", "*/.git", "**/.git/**", ".cache/huggingface", ".cache/huggingface/*"]


@dataclasses.dataclass
class UploadPlan:
    """What ``push_folder`` would upload, and whether the folder is fit for its kind."""

    kind: str
    folder: Path
    repo_id: str
    files: List[tuple]  # (path relative to the folder, size in bytes)
    errors: List[str]
    warnings: List[str]
    ignore_patterns: List[str]

    @property
    def repo_type(self) -> str:
        return self.kind

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """Human-readable listing: one line per file with its size, then problems."""
        lines = [f"{self.kind} repo {self.repo_id} <- {self.folder} ({len(self.files)} files, "
                 f"{format_size(self.total_bytes)})"]
        lines += [f"  {format_size(size):>10}  {path}" for path, size in self.files]
        lines += [f"warning: {text}" for text in self.warnings]
        lines += [f"error: {text}" for text in self.errors]
        return "\n".join(lines)


def format_size(num_bytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024.0
    return f"{num_bytes:.1f} GB"


def list_upload_files(folder, ignore_patterns=None) -> List[tuple]:
    """(relative path, size) of the files ``upload_folder`` would send, with the same pattern semantics."""
    from huggingface_hub.utils import filter_repo_objects

    folder = Path(folder)
    relpaths = [p.relative_to(folder).as_posix() for p in sorted(folder.glob("**/*")) if p.is_file()]
    patterns = list(ignore_patterns if ignore_patterns is not None else DEFAULT_IGNORE) + _hub_default_ignore()
    kept = filter_repo_objects(relpaths, ignore_patterns=patterns)
    return [(path, (folder / path).stat().st_size) for path in kept]


def read_front_matter(path) -> Optional[dict]:
    """The YAML header of a README.md (``None`` when there is none); raises ValueError naming the file if malformed."""
    import yaml

    text = Path(path).read_text(encoding="utf-8")
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, flags=re.DOTALL)
    if not match:
        return None
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: the YAML header does not parse: {error}") from error
    if data is not None and not isinstance(data, dict):
        raise ValueError(f"{path}: the YAML header must be a mapping, got {type(data).__name__}")
    return data or {}


def _check_model(folder: Path, names: set, errors: list, warnings: list):
    if "config.json" not in names:
        errors.append("no config.json: save the model with `save_pretrained` or "
                      "`hf_culturemert.export.save_model_folder`")
    else:
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            errors.append(f"config.json is not valid JSON: {error}")
            config = {}
        for auto_class, target in (config.get("auto_map") or {}).items():
            target = target[-1] if isinstance(target, (list, tuple)) else target
            if not target or "--" in target:  # a reference to another repo's code
                continue
            module = target.rsplit(".", 1)[0] + ".py"
            if module not in names:
                errors.append(f"config.json auto_map[{auto_class!r}] points to {module}, which is not in the folder: "
                              "copy the remote code files (hf_culturemert.export.write_remote_code)")
        if not config.get("auto_map"):
            warnings.append("config.json has no auto_map: users will need hf-culturemert installed to load it")
    weights = [n for n in names if n.endswith(".safetensors")]
    index = [n for n in names if n.endswith(".safetensors.index.json")]
    for name in index:
        shards = set(json.loads((folder / name).read_text(encoding="utf-8")).get("weight_map", {}).values())
        missing = sorted(s for s in shards if s not in names)
        if missing:
            errors.append(f"{name} lists shards that are missing: {', '.join(missing)}")
    if not weights:
        errors.append("no *.safetensors weights (model.safetensors or sharded files + index)")
    pickles = sorted(n for n in names if n.endswith(PICKLE_SUFFIXES))
    if pickles:
        errors.append(f"pickle files would be uploaded ({', '.join(pickles)}): publish safetensors only")
    if "preprocessor_config.json" not in names:
        warnings.append("no preprocessor_config.json: AutoFeatureExtractor.from_pretrained will fail")
    if "README.md" not in names:
        warnings.append("no README.md model card (hf_culturemert.cards.render_model_card writes one)")


def _check_dataset(folder: Path, names: set, errors: list, warnings: list):
    from fnmatch import fnmatch

    data_files = sorted(n for n in names if n.endswith(DATA_SUFFIXES) and n != "README.md"
                        and Path(n).name not in ("vocabulary.json",))
    if "README.md" not in names:
        errors.append("no README.md dataset card with `configs` (data_files) in its YAML header")
        return
    header = read_front_matter(folder / "README.md")
    configs = (header or {}).get("configs")
    if not configs:
        errors.append("README.md has no `configs:` entry in its YAML header: `load_dataset` would have to guess "
                      "the splits; add configs/data_files (hf_culturemert.data writes them)")
    else:
        for config in configs:
            files = config.get("data_files") or []
            files = [files] if isinstance(files, (str, dict)) else files
            for entry in files:
                patterns = entry.get("path") if isinstance(entry, dict) else entry
                patterns = [patterns] if isinstance(patterns, str) else list(patterns or [])
                for pattern in patterns:
                    if not any(fnmatch(n, pattern) for n in names):
                        split = entry.get("split", "?") if isinstance(entry, dict) else "?"
                        errors.append(f"config {config.get('config_name', 'default')!r} split {split!r}: no file "
                                      f"matches data_files pattern {pattern!r}")
    if not data_files:
        errors.append("no data files (parquet, arrow, csv, jsonl, audio...) in the folder")
    if header is not None and not header.get("license"):
        warnings.append("README.md declares no license")


def _check_space(folder: Path, names: set, errors: list, warnings: list):
    header = read_front_matter(folder / "README.md") if "README.md" in names else None
    if header is None:
        errors.append("no README.md with a YAML header (title, sdk, app_file): the Hub needs it to build the Space")
        header = {}
    sdk = header.get("sdk")
    if header and sdk not in SPACE_SDKS:
        errors.append(f"README.md `sdk` is {sdk!r}; use one of {', '.join(SPACE_SDKS)}")
    app_file = header.get("app_file", "app.py")
    if sdk in ("gradio", "streamlit", None) and app_file not in names:
        errors.append(f"no {app_file} (the Space's app_file)")
    if sdk in ("gradio", "streamlit") and "requirements.txt" not in names:
        warnings.append("no requirements.txt: only the SDK itself will be installed")


def _secret_reason(path: Path):
    """Why ``path`` looks like a credential (its name or its first MiB), or None."""
    from fnmatch import fnmatch

    name = path.name.lower()
    if any(fnmatch(name, pattern) for pattern in SECRET_NAMES):
        return "its name is a credential's"
    try:
        with open(path, "rb") as handle:
            head = handle.read(SCANNED_BYTES)
    except OSError as error:
        return f"it cannot be read to check it ({error.strerror or error})"
    match = SECRET_CONTENT.search(head)
    if match:
        kind = "a Hugging Face token" if match.group().startswith(b"hf_") else "a private key or access key"
        return f"it holds {kind}"
    return None


def _check_files(folder: Path, files, allow, max_file_gb, errors: list):
    """Secret-like and oversized files are errors, unless a pattern of ``allow`` names them."""
    from fnmatch import fnmatch

    limit = float(max_file_gb) * 2 ** 30
    for relpath, size in files:
        if any(fnmatch(relpath, pattern) for pattern in allow):
            continue
        reason = _secret_reason(folder / relpath)
        if reason:
            errors.append(f"{relpath} looks like a secret ({reason}): move it out of the folder, or pass "
                          f"--allow_files {relpath} if it is meant to be public")
        if size > limit:
            errors.append(f"{relpath} is {format_size(size)}, over the {max_file_gb:g} GB limit per file: split "
                          f"it, or pass --allow_files {relpath} (or a higher --max_file_gb)")


def plan_upload(kind: str, folder, repo_id: str = "", ignore_patterns=None, allow_files=(),
                max_file_gb=MAX_FILE_GB) -> UploadPlan:
    """List and check ``folder`` for a ``kind`` repo (``model``, ``dataset`` or ``space``) without touching the Hub.

    Files that look like credentials (:data:`SECRET_NAMES`, or a token / private key in their first MiB) and files
    over ``max_file_gb`` are errors unless an fnmatch pattern of ``allow_files`` names them.

    Args:
        kind: ``model``, ``dataset`` or ``space``: what the folder must hold (config and weights; a dataset card
            and data; a Space header and app).
        folder: the folder to upload.
        repo_id: the target repo, for the messages.
        ignore_patterns: fnmatch patterns of files left out, besides what `upload_folder` always leaves out (.git).
        allow_files: fnmatch patterns of files uploaded although they look like credentials or are large.
        max_file_gb: the largest file uploaded without ``allow_files``.

    Returns:
        An :class:`UploadPlan`: the files with their sizes, the errors (which block an upload) and warnings.
    """
    if kind not in KINDS:
        raise ValueError(f"Unknown repo kind {kind!r}; use one of {', '.join(KINDS)}")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder; pass the folder to upload")
    patterns = list(DEFAULT_IGNORE if ignore_patterns is None else ignore_patterns)
    files = list_upload_files(folder, patterns)
    names = {path for path, _ in files}
    errors, warnings = [], []
    if not files:
        errors.append("nothing to upload (the folder is empty once ignore patterns are applied)")
    else:
        {"model": _check_model, "dataset": _check_dataset, "space": _check_space}[kind](folder, names, errors, warnings)
        _check_files(folder, files, list(allow_files or ()), max_file_gb, errors)
    if repo_id and not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id):
        errors.append(f"repo id {repo_id!r} is not of the form ORG/NAME")
    return UploadPlan(kind=kind, folder=folder, repo_id=repo_id, files=files, errors=errors, warnings=warnings,
                      ignore_patterns=patterns)


@dataclasses.dataclass
class PushResult:
    plan: UploadPlan
    uploaded: bool
    repo_url: Optional[str] = None
    commit_url: Optional[str] = None


def push_folder(kind: str, folder, repo_id: str, private: bool = False, revision: Optional[str] = None,
                dry_run: bool = False, token: Optional[str] = None, commit_message: Optional[str] = None,
                ignore_patterns=None, create_pr: bool = False, endpoint: Optional[str] = None, allow_files=(),
                max_file_gb: float = MAX_FILE_GB) -> PushResult:
    """Check ``folder`` and (unless ``dry_run``) create the repo and upload it; returns the plan and the URLs.

    Refuses (ValueError listing the problems) to upload a folder that fails the checks of its kind.

    Args:
        kind: ``model``, ``dataset`` or ``space``.
        folder: the folder to upload.
        repo_id: ``ORG/NAME``.
        private: create the repo private.
        revision: a branch, created from ``main`` when missing.
        dry_run: check and list only; nothing is sent.
        token: a Hub token (default: ``$HF_TOKEN`` or ``hf auth login``'s); never printed or written.
        commit_message: the commit's message.
        ignore_patterns: see :func:`plan_upload`.
        create_pr: open a pull request instead of committing to the branch.
        endpoint: the Hub's address (default: ``$HF_ENDPOINT``, read at call time).
        allow_files: see :func:`plan_upload`.
        max_file_gb: see :func:`plan_upload`.

    Returns:
        A ``PushResult``: the plan, whether it was uploaded, and the repo and commit URLs.

    Example:
        ```python
        push_folder("model", "CultureMERT-TA-95M", "me/CultureMERT-TA-95M", dry_run=True).plan.files
        ```
    """
    plan = plan_upload(kind, folder, repo_id, ignore_patterns, allow_files=allow_files, max_file_gb=max_file_gb)
    if dry_run:
        logger.debug("Dry run, nothing uploaded:\n%s", plan.summary())
        return PushResult(plan=plan, uploaded=False)
    if not plan.ok:
        raise ValueError(f"{folder} is not a valid {kind} folder: " + "; ".join(plan.errors))
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from .hub_access import check_upload_access, describe_upload_error

    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    token = token or os.environ.get("HF_TOKEN") or None
    check_upload_access(repo_id, endpoint, token)  # offline / no token: one line at once, before any request
    network_errors = (HfHubHTTPError, OSError, ConnectionError)
    try:
        import httpx

        network_errors += (httpx.HTTPError,)
    except ImportError:
        pass
    api = HfApi(endpoint=endpoint, token=token)
    try:
        repo_url = api.create_repo(repo_id, repo_type=kind, private=private, exist_ok=True,
                                   space_sdk=(_space_sdk(plan) or "gradio") if kind == "space" else None)
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, repo_type=kind, exist_ok=True)
        commit = api.upload_folder(folder_path=str(plan.folder), repo_id=repo_id, repo_type=kind, revision=revision,
                                   ignore_patterns=plan.ignore_patterns, create_pr=create_pr,
                                   commit_message=commit_message or f"Upload {kind} with hf-culturemert")
    except network_errors as error:
        raise describe_upload_error(repo_id, error) from error
    commit_url = getattr(commit, "commit_url", None) or str(commit)
    logger.info("Uploaded %d files (%s) to %s", len(plan.files), format_size(plan.total_bytes), repo_url)
    return PushResult(plan=plan, uploaded=True, repo_url=str(repo_url), commit_url=commit_url)


def _space_sdk(plan: UploadPlan) -> Optional[str]:
    readme = plan.folder / "README.md"
    header = read_front_matter(readme) if readme.is_file() else None
    return (header or {}).get("sdk")
