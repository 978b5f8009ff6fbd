"""What the package writes, and what it may replace: file modes that follow the umask, and ownership manifests.

Rule: a command deletes or overwrites only what it provably created itself. A folder that a command writes into
holds a manifest (:data:`MANIFEST_FILE`) listing the files and folders it created there; anything else that is in
the way makes the command refuse, naming the path and ``--overwrite``. This module imports nothing heavy.
"""

import contextlib
import errno
import fcntl
import json
import os
import shutil
import tempfile
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
    """``safetensors.torch.save_file`` whose result follows the umask (safetensors itself writes 0600), written
    atomically (:func:`atomic_write_bytes`: a full disk leaves no partial file). For the package's small files
    (features, teachers, heads): the bytes are built in memory first."""
    from safetensors.torch import save

    return atomic_write_bytes(path, save(tensors, metadata=metadata))


def atomic_write_bytes(path, data: bytes):
    """Write ``data`` to ``path`` through a temporary file + rename; the result follows the umask.

    The rename replaces a symlink at ``path`` itself, never the file it points to. On any failure (a full disk:
    ``OSError`` ENOSPC) the temporary file is removed before the error propagates, so nothing is left behind.
    """
    path = Path(path)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp-{os.getpid()}", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        apply_default_mode(tmp)
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(error, OSError) and error.filename is None:
            error.filename = str(path)  # a full disk names the file it was writing
        raise
    return path


def atomic_write_text(path, text):
    """:func:`atomic_write_bytes` of UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def is_disk_full(error) -> bool:
    """True for the ``OSError`` of a full disk or an exhausted quota."""
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


def escaping_symlink(folder, name):
    """The first component of ``folder/name`` (below ``folder``) that is a symlink leading outside ``folder``,
    else None: a command never writes through such a link."""
    folder = Path(folder)
    root = folder.resolve()
    current = folder
    for part in Path(name).parts:
        current = current / part
        if current.is_symlink():
            target = current.resolve()
            if target != root and root not in target.parents:
                return current
    return None


def _refusal(path, command, what="exists"):
    return OutputExistsError(
        f"{path} {what} and was not written by `culturemert {command}` (it is not listed in "
        f"{Path(path).parent / MANIFEST_FILE}); move it away, choose another output, or pass --overwrite to replace it")


def _symlink_refusal(link, folder):
    return OutputExistsError(f"{link} is a symlink to {Path(link).resolve()}, outside the output folder {folder}; "
                             "nothing is written through it: remove the link or choose another output folder")


@contextlib.contextmanager
def folder_lock(folder):
    """An exclusive ``flock`` on the folder itself (no lock file left behind): concurrent writers of one manifest
    (two ``embed`` runs into one folder) take turns to re-read, merge and write it."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # releases the lock


class OutputManifest:
    """The files and folders one command created in ``folder``; only those may be replaced without ``--overwrite``.

    Names are paths relative to ``folder`` (``results/results.md``). A symlink is never "ours" (no command creates
    one): at an owned name it is refused like a user's file, and under ``--overwrite`` the link itself is replaced,
    never the file it points to. A symlink below ``folder`` leading outside it is refused even with ``--overwrite``.
    Saving re-reads the manifest under a lock and merges, so concurrent runs into one folder lose no entry.
    """

    def __init__(self, folder, command, overwrite=False):
        self.folder = Path(folder)
        self.command = command
        self.overwrite = bool(overwrite)
        if self.folder.exists() and not self.folder.is_dir():
            raise OutputExistsError(f"{self.folder} is a file, not a folder; pass a folder path")
        self.path = self.folder / MANIFEST_FILE
        self.created_by = None
        self.entries = self._read()
        self._removed = set()

    def _read(self):
        if not self.path.is_file():
            return set()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self.created_by = data.get("created_by")
            return set(data.get("created", []))
        except (OSError, ValueError, AttributeError) as error:
            raise OutputExistsError(f"{self.path} is unreadable ({error}); delete it only if the files of "
                                    "that folder are yours to lose, or choose another output") from error

    def owns(self, name) -> bool:
        return str(name) in self.entries and not (self.folder / name).is_symlink()

    def guard(self, name, into=False):
        """Refuse a symlink below the folder that leads out of it (whatever ``--overwrite`` says): one above
        ``name``, or ``name`` itself when the command writes ``into`` it (a folder)."""
        link = escaping_symlink(self.folder, name)
        if link is not None and (into or link != self.folder / name):
            raise _symlink_refusal(link, self.folder)

    def check(self, names):
        """Refuse (naming the first path and ``--overwrite``) when a name exists and is not ours."""
        for name in names:
            self.guard(name)
            target = self.folder / name
            if self.overwrite:
                continue
            if target.is_symlink() and str(name) in self.entries:
                raise _refusal(target, self.command, what=f"is a symlink (to {target.resolve()})")
            if (target.exists() or target.is_symlink()) and not self.owns(name):
                raise _refusal(target, self.command)

    def claim(self, names):
        """:meth:`check`, create the folder, then record ``names`` as ours (before writing them). A symlink at a
        claimed name is removed (the link, not its target), so that the write that follows creates a file."""
        names = [str(n) for n in names]
        self.check(names)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError as error:
            raise OutputExistsError(f"{error.filename or self.folder} is a file, not a folder; pass a folder "
                                    "path") from error
        for name in names:
            if (self.folder / name).is_symlink():
                (self.folder / name).unlink()
        self.record(names)

    def record(self, names):
        """Add ``names`` (written by this command) to the manifest."""
        names = {str(n) for n in names}
        self.entries.update(names)
        self._removed -= names
        self._save()

    def remove(self, name):
        """Delete ``name`` (file, link or empty folder) if and only if this manifest lists it; a listed folder that
        still holds files not listed is kept (they are someone else's)."""
        if str(name) not in self.entries:
            raise _refusal(self.folder / name, self.command)
        self._unlink(name)
        self.entries.discard(str(name))
        self._removed.add(str(name))
        self._save()

    def _unlink(self, name):
        target = self.folder / name
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            owned = {e for e in self.entries if e.startswith(f"{name}/")}
            if owned:
                for entry in sorted(owned, key=lambda e: e.count("/"), reverse=True):
                    self._unlink(entry)
                    self.entries.discard(entry)
                    self._removed.add(entry)
                with contextlib.suppress(OSError):
                    target.rmdir()  # not empty: files that are not ours are in it
            else:  # a folder recorded as a whole (a model folder written in one piece, a candidate)
                shutil.rmtree(target)

    def remove_all(self):
        """Delete everything this manifest lists, deepest first, keeping folders that hold files not listed."""
        for name in sorted(self.entries, key=lambda e: (e.count("/"), e), reverse=True):
            if name in self.entries:
                target = self.folder / name
                if target.is_dir() and not target.is_symlink():
                    try:
                        target.rmdir()
                    except OSError:
                        continue  # files that are not ours are in it: the folder stays, and stays listed
                elif target.exists() or target.is_symlink():
                    target.unlink()
                self.entries.discard(name)
                self._removed.add(name)
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
        self.folder.mkdir(parents=True, exist_ok=True)
        with folder_lock(self.folder):
            on_disk = self._read()  # another run may have added entries since we read
            self.entries |= on_disk - self._removed
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
