"""Fail at once, in one line, when a model must come from the Hugging Face Hub and the Hub cannot be reached.

Without this, transformers / huggingface_hub retry for about a minute and end with an ``OSError`` traceback that
says nothing about the network or about the offline alternatives (a local folder, ``tiny-random``).
"""

import logging
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

logger = logging.getLogger(__name__)

OFFLINE_HINT = ("pass a local model folder (config.json + model.safetensors, e.g. one written by `culturemert "
                "pretrain` or `merge`), or `tiny-random` (embed, probe, evaluate) for the tiny offline demo model")
_TRUE = {"1", "true", "yes", "on"}
_probe_cache = {}


def hub_endpoint():
    """The endpoint huggingface_hub talks to (its ``constants.ENDPOINT``, i.e. ``$HF_ENDPOINT`` at its import)."""
    try:
        from huggingface_hub import constants

        return str(os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    except ImportError:
        return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def _offline_mode():
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)  # what huggingface_hub itself obeys (read at its import)
    except ImportError:
        return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def hub_unreachable_reason(timeout=3.0, endpoint=None):
    """None when a TCP connection to the Hub endpoint opens within ``timeout`` seconds, else why not (cached)."""
    if _offline_mode():
        return "HF_HUB_OFFLINE is set"
    endpoint = (endpoint or hub_endpoint()).rstrip("/")
    if endpoint not in _probe_cache:
        parsed = urlparse(endpoint)
        host = parsed.hostname or "huggingface.co"
        port = parsed.port or (443 if parsed.scheme != "http" else 80)
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            _probe_cache[endpoint] = None
        except OSError as error:
            _probe_cache[endpoint] = f"cannot connect to {host}:{port} ({error.strerror or error})"
    return _probe_cache[endpoint]


def _cached(repo_id, revision=None):
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except (ValueError, OSError):  # not a valid repo id
        return False
    return isinstance(found, str)


def check_model_source(source, argument="--model", revision=None):
    """Check that ``source`` (a folder or a Hub id) can be loaded; returns extra ``from_pretrained`` kwargs.

    A local folder passes. A Hub id passes when the Hub answers; when it does not, a copy in the local Hub
    cache is used without network retries (``local_files_only``), and otherwise ValueError says at once that the
    Hub is unreachable, why, and what to pass instead.
    """
    text = str(source)
    if Path(text).expanduser().exists():
        return {}
    reason = hub_unreachable_reason()
    if reason is None:
        return {}
    if _cached(text, revision):
        logger.info("The Hugging Face Hub is unreachable (%s); using the cached copy of %s", reason, text)
        return {"local_files_only": True}
    raise ValueError(f"{argument} {text}: no such local folder, and the Hugging Face Hub is unreachable ({reason}), "
                     f"so it cannot be downloaded; {OFFLINE_HINT}")


def describe_load_error(source, error, argument="--model"):
    """A one-line ValueError for a model folder that exists but cannot be read (truncated weights, bad JSON)."""
    folder = Path(str(source))
    weights = sorted(p.name for p in folder.glob("*.safetensors")) if folder.is_dir() else []
    where = f"{folder}/{weights[0]}" if len(weights) == 1 else str(folder)
    first = " ".join(str(error).split()) or type(error).__name__
    return ValueError(f"{argument} {source}: cannot read the model in {where} ({type(error).__name__}: {first}); the "
                      "file is probably truncated or corrupt: copy or download it again")


def check_upload_access(repo_id, endpoint=None, token=None):
    """Before an upload: the Hub must answer and a token must exist; ValueError (one line) otherwise."""
    endpoint = endpoint or hub_endpoint()
    reason = hub_unreachable_reason(endpoint=endpoint)
    if reason is not None:
        raise ValueError(f"Cannot push to {repo_id}: the Hugging Face Hub at {endpoint} is unreachable ({reason}); "
                         "check the network (or unset HF_HUB_OFFLINE), or check the folder with --dry-run offline")
    if token is None:
        from huggingface_hub import get_token

        token = get_token()
    if not token:
        raise ValueError(f"Cannot push to {repo_id}: no Hugging Face token; set $HF_TOKEN or run `hf auth login` "
                         "(a token with write access)")


def describe_upload_error(repo_id, error):
    """A one-line ValueError for a failed create_repo / upload (token rejected, no access, network)."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    first = " ".join(str(error).split())[:300] or type(error).__name__
    if status in (401, 403):
        return ValueError(f"Cannot push to {repo_id}: the Hub refused the token (HTTP {status}); check that $HF_TOKEN "
                          "or `hf auth login` holds a token with write access to that namespace")
    if status is not None:
        return ValueError(f"Cannot push to {repo_id}: the Hub answered HTTP {status} ({first})")
    return ValueError(f"Cannot push to {repo_id}: network error talking to the Hub ({type(error).__name__}: {first}); "
                      "check the connection and retry")
