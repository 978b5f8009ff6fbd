"""The package's import layers hold: no upward import, no circle (contracts in ``.importlinter``, see
docs/architecture.md), and every top-level module has its place in the layers."""

import configparser
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".importlinter"


def test_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint), "--config", str(CONFIG), "--no-cache"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert "Contracts: 2 kept, 0 broken." in run.stdout, run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0


def test_every_top_level_module_has_a_layer():
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    layers = parser["importlinter:contract:layers"]["layers"]
    layered = set(re.findall(r"hf_culturemert\.(\w+)", layers))
    optional = set(re.findall(r"\(hf_culturemert\.(\w+)\)", layers))  # may be absent
    package = ROOT / "src" / "hf_culturemert"
    modules = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    modules |= {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    missing = sorted(modules - layered)
    assert not missing, f"place {missing} in a layer of .importlinter (and docs/architecture.md)"
    assert not layered - optional - modules, \
        f".importlinter names modules that do not exist: {sorted(layered - optional - modules)}"


def test_shared_constants_are_defined_once():
    """The 24 kHz rate and the tradition list live in hf_culturemert.constants; the Hub remote code under models/
    must stand alone and keeps its own defaults."""
    package = ROOT / "src" / "hf_culturemert"
    rate = re.compile(r"^[A-Z_]*RATE\s*=\s*24_?000\b", re.M)
    traditions = re.compile(r"""^[A-Z_]+\s*=\s*[(\[]\s*["']lyra["'],\s*["']makam["'],\s*["']hindustani["'],"""
                            r"""\s*["']carnatic["']\s*[)\]]""", re.M)
    copies = []
    for path in package.rglob("*.py"):
        if path.name == "constants.py" or "models" in path.relative_to(package).parts[:1]:
            continue
        text = path.read_text(encoding="utf-8")
        copies += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in (*rate.finditer(text),
                                                                       *traditions.finditer(text))]
    assert not copies, f"import these from hf_culturemert.constants instead: {copies}"
