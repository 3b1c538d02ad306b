"""What was read from files, kept in the process for the next reader of the same files.

Every app built (and the test suite builds hundreds in each process) reads the same content,
catalogs and translation files. A `Kept` store keeps what a reader made of them: first by the
files' identity on disk (`stamps`: a stat each), then, for files at another place (a copy of
the folder, as the language tests make) or with a new identity, by their names and bytes, so
only changed bytes are parsed again. Readers must return immutable values (tuples, frozen
dataclasses, read-only mappings), or callers must copy what they may change.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

# A file whose modification time is this recent is not taken as unchanged by its stamp: file
# times can be as coarse as a clock tick (seconds on some file systems), so a second write in
# the same tick, of the same size, would look like the first (git's "racily clean" case).
RECENT_NS = 2_000_000_000


def stamps(*paths: Path) -> tuple[tuple[object, ...], ...] | None:
    """The identity of these files as they are on disk now, for an in-process cache of what
    was read from them: (absolute path, mtime_ns, size, inode) each, (path,) for a missing
    file; None when one was modified in the last RECENT_NS (read it again then). Loa writes
    its files by replacing them (a new inode), so a rewrite changes the stamp even within one
    clock tick."""
    now = time.time_ns()
    out: list[tuple[object, ...]] = []
    for path in paths:
        name = os.path.abspath(path)
        try:
            st = os.stat(name)
        except (FileNotFoundError, NotADirectoryError):
            out.append((name,))
            continue
        if abs(now - st.st_mtime_ns) < RECENT_NS:
            return None
        out.append((name, st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


def contents(paths: Sequence[Path]) -> tuple[tuple[str, str], ...]:
    """Each file's name and a digest of its bytes ("" when missing)."""
    out = []
    for path in paths:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            digest = ""
        out.append((path.name, digest))
    return tuple(out)


_T = TypeVar("_T")


class Kept(Generic[_T]):
    """The last `size` results of one reader, by stamps and by contents."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._by_stamps: OrderedDict[Hashable, _T] = OrderedDict()
        self._by_contents: OrderedDict[Hashable, _T] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, read: Callable[[], _T], files: Callable[[], Sequence[Path]],
                 *args: Hashable) -> _T:
        """read(): what is made of the files `files()` lists, as of now; `args`: the rest it
        depends on (never a path: files elsewhere with the same names and bytes give the same
        result). An error is raised, not kept."""
        paths = files()
        key = stamps(*paths)
        if key is None:                                 # a file changed just now
            return read()
        found = self._get(self._by_stamps, (key, args))
        if found is not None:
            return found
        same = (contents(paths), args)
        found = self._get(self._by_contents, same)
        if found is None:
            found = read()
            if stamps(*files()) != key:     # changed while read: these may not be its bytes
                return found
            self._put(self._by_contents, same, found)
        self._put(self._by_stamps, (key, args), found)
        return found

    def _get(self, store: OrderedDict[Hashable, _T], key: Hashable) -> _T | None:
        with self._lock:
            found = store.get(key)
            if found is not None:
                store.move_to_end(key)
            return found

    def _put(self, store: OrderedDict[Hashable, _T], key: Hashable, value: _T) -> None:
        with self._lock:
            store[key] = value
            while len(store) > self.size:
                store.popitem(last=False)
