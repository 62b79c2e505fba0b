"""Helpers shared by the tests: plain functions, no fixtures (those live in conftest.py)."""

from __future__ import annotations

import contextlib
import os
import socketserver
import subprocess
import sys
import threading

import cv2
import numpy as np


def every_frame(path: str | os.PathLike, rgb: bool = False) -> list[np.ndarray]:
    """Every frame OpenCV decodes from `path`, in order (BGR as OpenCV gives them, or RGB); [] for an unreadable file."""
    capture = cv2.VideoCapture(str(path))
    decoded = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            decoded.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if rgb else frame)
    finally:
        capture.release()
    return decoded


def declared_frame_count(path: str | os.PathLike) -> int:
    """The frame count the container declares (which may be wrong)."""
    capture = cv2.VideoCapture(str(path))
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()


def decode_worker_children():
    """Live children of this process that run frame_path.decode_worker."""
    children = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat_file:
                parent = stat_file.read().rsplit(")", 1)[1].split()[1]
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline_file:
                command = cmdline_file.read()
        except OSError:
            continue
        if parent == str(os.getpid()) and b"frame_path.decode_worker" in command:
            children.append(int(entry))
    return children


CLASSES = ("Punch", "Drumming", "Skiing")  # the stand-in datasets' classes


def touch(path) -> None:
    """A stand-in clip for manifest tests: a few dozen bytes, unique to its path (so no two are identical files), not empty or tiny."""
    write_text(path, f"a stand-in for a video file at {path}\n")


def write_text(path, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as text_file:
        text_file.write(text)


def ucf101_name(class_name: str, group: int, clip: int, extension: str = ".avi") -> str:
    return f"v_{class_name}_g{group:02d}_c{clip:02d}{extension}"


def keras_rows(groups, classes=CLASSES) -> list[tuple[str, str]]:
    return [(ucf101_name(class_name, group, clip), class_name) for class_name in classes for group in groups for clip in (1, 2)]


def make_keras_dataset(root, train_rows, test_rows, header="video_name,tag", index_column=True, create_files=True):
    """train.csv/test.csv as the Keras example writes them (pandas index column) plus the files."""
    for split, rows in (("train", train_rows), ("test", test_rows)):
        lines = [("," if index_column else "") + header]
        for number, (video_name, tag) in enumerate(rows):
            lines.append((f"{number}," if index_column else "") + f"{video_name},{tag}")
        write_text(root / f"{split}.csv", "\n".join(lines) + "\n")
        if create_files:
            for video_name, _ in rows:
                touch(root / split / video_name)
    return str(root)


def make_class_folders(root, groups, classes=CLASSES) -> list[str]:
    video_ids = []
    for class_name in classes:
        for group in groups:
            for clip in (1, 2):
                video_id = f"{class_name}/{ucf101_name(class_name, group, clip)}"
                touch(root / video_id)
                video_ids.append(video_id)
    return video_ids


PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# The components a whole run executes, in order (TFX's resolver of the last blessed model aside).
EXECUTED_COMPONENTS = ("VideoExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform", "Trainer", "Evaluator", "Pusher")


def run_pipeline_runner(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """`python pipeline_runner.py ARGS` in a fresh interpreter, as a user runs it; its output captured."""
    return subprocess.run([sys.executable, "pipeline_runner.py", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout)


# A recording proxy on 127.0.0.1 stands in for the network. Each process under test gets it as its
# HTTP(S) proxy, NO_PROXY only for localhost (as README says to set it: Beam's worker processes talk
# gRPC to localhost, which gRPC would send to the proxy too), and a fresh HOME (so no Prism binary
# cached from before); the proxy records the first line of every request (for HTTPS, the CONNECT
# host) and answers 403, never forwarding anything.
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


class _Refuse(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(5)
        with contextlib.suppress(OSError):
            self.server.requests.append(self.request.recv(4096).split(b"\r\n", 1)[0].decode("latin-1"))
            self.request.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


class _RecordingProxy(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self):
        self.requests = []
        super().__init__(("127.0.0.1", 0), _Refuse)


@contextlib.contextmanager
def recording_proxy(home):
    """Yields (the environment of a process behind the proxy, the list of requests it made); stops the proxy."""
    proxy = _RecordingProxy()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{proxy.server_address[1]}"
    environment = {name: value for name, value in os.environ.items() if name.lower() != "no_proxy"}
    environment.update(
        {name: url for name in PROXY_VARIABLES}, NO_PROXY="localhost,127.0.0.1", no_proxy="localhost,127.0.0.1", HOME=str(home)
    )
    try:
        yield environment, proxy.requests
    finally:
        proxy.shutdown()
        proxy.server_close()


def run_behind_proxy(command, home, log_path, timeout):
    """Runs `command` in the project root behind a recording proxy; returns (exit code, requests, log tail, its pid)."""
    with recording_proxy(home) as (environment, requests), open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
        try:
            exit_code = process.wait(timeout=timeout)
        finally:
            process.kill()
            process.wait()
    with open(log_path) as log:
        return exit_code, list(requests), log.read()[-3000:], process.pid
