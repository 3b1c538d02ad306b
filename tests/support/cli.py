"""`python -m bot ...` inside the test process: `bot.cli.main(argv)` with the environment,
standard input and output a subprocess would have had, without a new interpreter paying
its second and a half of imports. For tests about the command, not about the process; tests
about exit on a crash, signals, file modes or several processes still start one.

From an async test (Loa may be running in its loop) call it in a thread:
`await asyncio.to_thread(run_cli, ...)`; the commands run their own event loop.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.cli import main

_one_at_a_time = threading.Lock()   # the environment, umask and sys.std* are per process


@dataclass
class CliResult:
    """What subprocess.run(..., capture_output=True, text=True) would have returned."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: Mapping[str, str] | None = None, stdin: str | None = None,
            cwd: Path | None = None) -> CliResult:
    """Run `python -m bot *args`. `env` is the whole environment of the command (as given to
    a subprocess, e.g. {**os.environ, ...}): BOT_ variables not in it are unset meanwhile.
    None keeps the test process's environment. `cwd`: the working folder meanwhile."""
    out, err = _stream(), _stream()
    with _one_at_a_time, _environment(env), _process_state(cwd), _last_resort(err), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        sys.stdin = _stream((stdin or "").encode())
        try:
            code = main(list(args))
        except SystemExit as exc:        # argparse, or a command's own exit
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except Exception:               # as the interpreter would: a traceback, status 1
            traceback.print_exc(file=sys.stderr)
            code = 1
    return CliResult(["python", "-m", "bot", *args], code, _text(out), _text(err))


@contextlib.contextmanager
def _last_resort(err: io.TextIOWrapper) -> Iterator[None]:
    """Warnings and errors the command logs reach its stderr, as in a process of its own
    without logging set up (Python's last-resort handler); only this thread's records."""
    handler = logging.StreamHandler(err)
    handler.setLevel(logging.WARNING)
    thread = threading.get_ident()
    handler.addFilter(lambda record: record.thread == thread)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def _stream(data: bytes = b"") -> io.TextIOWrapper:
    """A text stream with a binary `.buffer` underneath, as sys.stdout is (a report writes
    its spreadsheet to sys.stdout.buffer)."""
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", write_through=True)


def _text(stream: io.TextIOWrapper) -> str:
    """Decoded with universal newlines, as subprocess.run(text=True) does."""
    stream.flush()
    raw = stream.buffer.getvalue().decode("utf-8")   # type: ignore[attr-defined]
    return raw.replace("\r\n", "\n").replace("\r", "\n")


@contextlib.contextmanager
def _environment(env: Mapping[str, str] | None) -> Iterator[None]:
    if env is None:
        yield
        return
    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith("BOT_") and n not in env]:
        del os.environ[name]
    os.environ.update(env)
    try:
        yield
    finally:
        for name in [n for n in os.environ if n not in saved]:
            del os.environ[name]
        os.environ.update(saved)


@contextlib.contextmanager
def _process_state(cwd: Path | None) -> Iterator[None]:
    """main() sets the umask (0o077) and may set up logging; stdin and maybe the working
    folder are replaced: all restored."""
    umask = os.umask(0o022)
    os.umask(umask)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stdin, folder = sys.stdin, os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(folder)
        os.umask(umask)
        root.handlers[:] = handlers
        root.setLevel(level)
        sys.stdin = stdin
