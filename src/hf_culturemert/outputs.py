"""What the package writes, and what it may replace: file modes that follow the umask, and ownership manifests.

Rule: a command deletes or overwrites only what it provably created itself. A folder that a command writes into
holds a manifest (:data:`MANIFEST_FILE`) listing the files and folders it created there; anything else that is in
the way makes the command refuse, naming the path and ``--overwrite``. This module imports nothing heavy.
"""

import json
import os
import shutil
from pathlib import Path

MANIFEST_FILE = ".culturemert-outputs.json"


class OutputExistsError(ValueError):
    """A path the command would write is in the way and was not created by it (one-line CLI error)."""


def current_umask() -> int:
    """The process umask, read without changing it where /proc allows (os.umask round trip otherwise)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_file_mode() -> int:
    """``0o666 & ~umask``: the mode ``open()`` / ``cp`` / ``touch`` give a new file."""
    return 0o666 & ~current_umask()


def apply_default_mode(path):
    """Give ``path`` the mode of a newly created file (writers that go through ``mkstemp`` leave 0600)."""
    os.chmod(path, default_file_mode())
    return path


def fix_modes(folder, pattern="*.safetensors"):
    """:func:`apply_default_mode` for every file matching ``pattern`` below ``folder`` (e.g. after save_pretrained)."""
    for path in Path(folder).rglob(pattern):
        if path.is_file():
            apply_default_mode(path)


def save_safetensors(tensors, path, metadata=None):
    """``safetensors.torch.save_file`` whose result follows the umask (safetensors itself writes 0600)."""
    from safetensors.torch import save_file

    save_file(tensors, str(path), metadata=metadata)
    return apply_default_mode(path)


def atomic_write_text(path, text):
    """Write ``text`` to ``path`` through a temporary file + rename; the result follows the umask."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def _refusal(path, command, what="exists"):
    return OutputExistsError(
        f"{path} {what} and was not written by `culturemert {command}` (it is not listed in "
        f"{Path(path).parent / MANIFEST_FILE}); move it away, choose another output, or pass --overwrite to replace it")


class OutputManifest:
    """The files and folders one command created in ``folder``; only those may be replaced without ``--overwrite``."""

    def __init__(self, folder, command, overwrite=False):
        self.folder = Path(folder)
        self.command = command
        self.overwrite = bool(overwrite)
        if self.folder.exists() and not self.folder.is_dir():
            raise OutputExistsError(f"{self.folder} is a file, not a folder; pass a folder path")
        self.path = self.folder / MANIFEST_FILE
        self.entries = set()
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self.entries = set(data.get("created", []))
            except (OSError, ValueError, AttributeError) as error:
                raise OutputExistsError(f"{self.path} is unreadable ({error}); delete it only if the files of "
                                        "that folder are yours to lose, or choose another output") from error

    def owns(self, name) -> bool:
        return str(name) in self.entries

    def check(self, names):
        """Refuse (naming the first path and ``--overwrite``) when a name exists and is not ours."""
        if self.overwrite:
            return
        for name in names:
            target = self.folder / name
            if (target.exists() or target.is_symlink()) and not self.owns(name):
                raise _refusal(target, self.command)

    def claim(self, names):
        """:meth:`check`, create the folder, then record ``names`` as ours (before writing them)."""
        self.check(names)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError as error:
            raise OutputExistsError(f"{error.filename or self.folder} is a file, not a folder; pass a folder "
                                    "path") from error
        self.entries.update(str(n) for n in names)
        self._save()

    def remove(self, name):
        """Delete ``name`` (file or folder) if and only if this manifest lists it."""
        if not self.owns(name):
            raise _refusal(self.folder / name, self.command)
        target = self.folder / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        self.entries.discard(str(name))
        self._save()

    def dissolve(self):
        """Remove the manifest and then the folder if nothing else is left in it (never anything else)."""
        if self.path.exists():
            self.path.unlink()
        try:
            self.folder.rmdir()
        except OSError:  # the user's files are still there: keep them
            pass

    def _save(self):
        data = {"created_by": f"culturemert {self.command}", "created": sorted(self.entries)}
        atomic_write_text(self.path, json.dumps(data, indent=1) + "\n")


def ensure_writable_dir(folder, argument):
    """Create ``folder`` (parents too) or raise a one-line error naming ``argument`` (read-only, a file ...)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise OutputExistsError(f"{argument} {folder}: {error.filename or folder} or a folder above it is a file, "
                                "not a folder; choose another path") from error
    except PermissionError as error:
        raise OutputExistsError(f"{argument} {folder}: permission denied creating {error.filename or folder}; "
                                "choose a folder you can write") from error
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputExistsError(f"{argument} {folder}: the folder is not writable; choose a folder you can write")
    return folder
