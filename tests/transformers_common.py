"""transformers' own common model tests (``ModelTesterMixin``, ``ConfigTester``), taken from the transformers source
distribution that matches the installed version.

The project copies none of transformers' test code: the first use downloads the sdist from the package index once
(``pip download --no-deps --no-binary :all: transformers==<installed>``), unpacks its ``tests/*.py`` into
``~/.cache/hf-culturemert/transformers-tests-<version>/transformers_tests/`` (``$XDG_CACHE_HOME`` or
``$HF_CULTUREMERT_CACHE`` move it) and imports them from there as the package ``transformers_tests``. The sdist
lacks a few helper modules that the common files import; the stubs below stand in for them. Offline, with no cached
copy, importing this module fails with one message saying what to do (never a silent skip).
"""

import importlib
import os
import subprocess
import sys
import tarfile
import tempfile
import types
import warnings
from pathlib import Path

import transformers

PACKAGE = "transformers_tests"
VERSION = transformers.__version__


def cache_root():
    base = os.environ.get("HF_CULTUREMERT_CACHE")
    if base is None:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hf-culturemert"
    return Path(base) / f"transformers-tests-{VERSION}"


class CommonTestsUnavailable(RuntimeError):
    pass


def _download_and_unpack(root):
    """Fetch the sdist of the installed transformers and unpack its top-level ``tests/*.py`` (atomically)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent, prefix=".download-") as tmp:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--no-binary", ":all:", f"transformers=={VERSION}", "-d", tmp],
            capture_output=True, text=True, timeout=900)
        archives = sorted(Path(tmp).glob("transformers-*.tar.gz"))
        if result.returncode != 0 or not archives:
            said = ((result.stderr or result.stdout).strip().splitlines() or ["nothing"])[-1]
            raise CommonTestsUnavailable(
                f"transformers' common model tests are not cached in {root} and the transformers=={VERSION} source "
                f"distribution could not be downloaded from the package index (pip: {said}). Run the tests once with "
                f"access to PyPI, or unpack tests/*.py of transformers-{VERSION}.tar.gz into {root / PACKAGE} "
                "beside an empty __init__.py.")
        staging = Path(tmp) / "staging" / PACKAGE
        staging.mkdir(parents=True)
        prefix = f"transformers-{VERSION}/tests/"
        with tarfile.open(archives[0]) as archive:
            for member in archive.getmembers():
                name = member.name
                if member.isfile() and name.startswith(prefix) and "/" not in name[len(prefix):] \
                        and name.endswith(".py"):
                    (staging / name[len(prefix):]).write_bytes(archive.extractfile(member).read())
        if not (staging / "test_modeling_common.py").is_file():
            raise CommonTestsUnavailable(f"transformers-{VERSION}.tar.gz has no tests/test_modeling_common.py; "
                                         "this transformers release cannot be checked with its common tests")
        # transformers' tests/ is a package (test_configuration_common imports it through __init__.py)
        (staging / "__init__.py").write_text("")
        (staging.parent / "SOURCE").write_text(f"tests/*.py of transformers-{VERSION}.tar.gz from the package index\n")
        try:
            os.replace(staging.parent, root)
        except OSError:  # another process unpacked it first
            if not (root / PACKAGE / "test_modeling_common.py").is_file():
                raise


def _install_stubs():
    """Modules the common files import that the sdist does not ship (they live elsewhere in transformers' repo)."""

    class ExportTesterMixin:
        """Stub: transformers' exporter tests need ``transformers.exporters`` and its repo-only fixtures; this
        project's own slow tests export and compile every class (tests/test_model_contracts.py)."""

    class GenerationTesterMixin:
        """Stub: none of these models generates; the mixin only checks that non-generating testers lack it."""

    # transformers' tests/utils/test_configuration_utils.py: the common config kwargs every config must accept
    config_common_kwargs = {
        "return_dict": False,
        "output_hidden_states": True,
        "output_attentions": True,
        "dtype": "float16",
        "chunk_size_feed_forward": 5,
        "architectures": ["SomeModel"],
        "id2label": {0: "label"},
        "label2id": {"label": "0"},
        "problem_type": "regression",
    }
    stubs = {"exporters.test_export": {"ExportTesterMixin": ExportTesterMixin},
             "generation.test_utils": {"GenerationTesterMixin": GenerationTesterMixin},
             "utils.test_configuration_utils": {"config_common_kwargs": config_common_kwargs}}
    for dotted, attributes in stubs.items():
        parent, child = dotted.split(".")
        package = sys.modules.setdefault(f"{PACKAGE}.{parent}", types.ModuleType(f"{PACKAGE}.{parent}"))
        package.__path__ = []
        module = types.ModuleType(f"{PACKAGE}.{dotted}")
        module.__dict__.update(attributes)
        sys.modules[module.__name__] = module
        setattr(package, child, module)


def load():
    """``(test_modeling_common, test_configuration_common)`` of the installed transformers version."""
    root = cache_root()
    if not (root / PACKAGE / "test_modeling_common.py").is_file():
        _download_and_unpack(root)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    _install_stubs()
    with warnings.catch_warnings():  # transformers registers its own pytest marks (flash_attn_test, ...) in its conftest
        warnings.filterwarnings("ignore", message="Unknown pytest.mark")
        return (importlib.import_module(f"{PACKAGE}.test_modeling_common"),
                importlib.import_module(f"{PACKAGE}.test_configuration_common"))
