"""Ctrl-C: the launching process stops the run at once and ends its worker processes.

A terminal sends SIGINT to its whole foreground process group: the launching
process (`pipeline_runner.py`), its decode workers (frame_path/decode_worker.py)
and the Beam SDK workers of `--direct_running_mode=multi_processing` all get
it. Left to Python, each raises KeyboardInterrupt wherever it happens to be:
Beam turns it into a bundle failure and may go on, and every process prints
its own traceback. Here the launcher alone acts on it: one thread of its own
prints one line, ends the descendant processes (never the process group, which
a test runner or a `| tee` may share), runs the registered clean-ups and exits
with 130 on the spot, whatever the other threads are doing (a long TensorFlow
call, a gRPC wait). The workers ignore SIGINT from their first instruction on:
they inherit the launcher's SIG_IGN (kept across exec and by /bin/sh), so none
can print a KeyboardInterrupt before the launcher ends it.

What an unfinished component wrote stays unregistered: TFX publishes an
execution and its artifacts only when the component completes, so a rerun
(also with the cache on) runs that component again.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator

import psutil

INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT: what a shell reports for a Ctrl-C
MESSAGE = "interrupted; the unfinished step was not recorded and runs again next time"
_clean_ups: list[Callable[[], None]] = []
_interrupted = threading.Event()


def still_running(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running; a zombie has ended (its parent, maybe gone already, has only to reap it)."""
    running = []
    for process in processes:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
        except psutil.NoSuchProcess:
            pass
    return running


def end_descendants(timeout: float = 2.0) -> None:
    """Ends every descendant process of this one: all are stopped (SIGSTOP) first, then killed.

    Stopped first, because the workers watch each other through the launcher: when one Beam worker ends, the
    runner shuts its servers down and the others print 'Logging client failed' (seen in CI). A stopped process
    can neither print nor fork, and none needs a graceful end: the launcher's clean-ups remove the run's temp folder.
    """
    stopped: list[psutil.Process] = []
    for _ in range(3):  # again: a child may have started another before it was stopped
        new = [process for process in still_running(psutil.Process().children(recursive=True)) if process not in stopped]
        if not new:
            break
        for process in new:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGSTOP)
        stopped += new
    for process in stopped:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    deadline = time.monotonic() + timeout
    while still_running(stopped) and time.monotonic() < deadline:
        time.sleep(0.02)


@contextlib.contextmanager
def clean_up_on_interrupt(clean_up: Callable[[], None]) -> Iterator[None]:
    """Within the block, a Ctrl-C runs `clean_up` (once the descendant processes are gone) before the exit."""
    _clean_ups.append(clean_up)
    try:
        yield
    finally:
        _clean_ups.remove(clean_up)


def _only_thread() -> bool:
    try:
        return len(os.listdir("/proc/self/task")) == 1  # threads of C libraries too (NumPy's start at import)
    except OSError:
        return threading.active_count() == 1


def _stop_at_ctrl_c() -> None:
    signal.sigwait({signal.SIGINT})
    _interrupted.set()
    try:
        with contextlib.suppress(OSError):  # a `| tee` that got the Ctrl-C too has closed the pipe
            sys.stdout.flush()
            print(f"error: {MESSAGE}", file=sys.stderr, flush=True)
        # What the other threads still say (Beam's, as their workers go) is only noise now.
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (1, 2):
            os.dup2(devnull, stream)
        end_descendants()
        for clean_up in list(_clean_ups):
            clean_up()
    finally:
        os._exit(INTERRUPTED_EXIT_CODE)  # at once: no atexit, no waiting on the threads of TFX, Beam and TensorFlow


def _hold_exit_while_interrupted() -> None:
    """At the interpreter's exit: where the run failed because its workers were ended, the exit waits for os._exit(130)."""
    if _interrupted.is_set():
        threading.Event().wait()


def stop_on_ctrl_c() -> bool:
    """For a launcher's entry point, before any other thread starts: Ctrl-C stops the run as this module says.

    SIGINT is blocked in this thread, hence in every thread started later, and
    one thread waits for it (a blocked signal stays pending even when ignored);
    its action is SIG_IGN, which child processes inherit. Where other threads
    already run (this file loaded into a bigger program, as `tfx pipeline create`
    does), one of them could take the signal and drop it: then nothing changes
    and the result is False.
    """
    if threading.current_thread() is not threading.main_thread() or not _only_thread():
        return False
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_stop_at_ctrl_c, name="ctrl-c", daemon=True).start()
    atexit.register(_hold_exit_while_interrupted)
    return True
