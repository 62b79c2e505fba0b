"""backbone.share_gpu_memory: extraction workers that share a GPU take its memory as they need it."""

import os
import subprocess
import sys

import tensorflow as tf

from frame_path import backbone

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _fresh_process(code):
    """Runs `code` in a new Python, where neither TensorFlow nor JAX has touched a device yet."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("XLA_PYTHON_CLIENT_")}
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split()


def test_before_the_backbone_is_built_harmless_without_a_gpu():
    code = (
        "import os; from frame_path import backbone; print(len(backbone.share_gpu_memory()), os.environ['XLA_PYTHON_CLIENT_PREALLOCATE'])"
    )
    grown, preallocate = _fresh_process(code)
    assert preallocate == "false"  # the JAX backend's switch
    assert int(grown) == len(tf.config.list_physical_devices("GPU"))


def test_a_users_own_setting_is_kept(monkeypatch):
    monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "true")
    backbone.share_gpu_memory()
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "true"


def test_build_backbone_shares_the_gpu(monkeypatch):
    monkeypatch.delenv("XLA_PYTHON_CLIENT_PREALLOCATE", raising=False)
    backbone.build_backbone("none", 32, seed=0)
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    # Once TensorFlow runs, calling it again still works (and changes nothing).
    backbone.share_gpu_memory()


def test_every_gpu_gets_memory_growth(monkeypatch):
    """With TensorFlow's device list standing in for a two-GPU machine (this one has none)."""
    gpus = [tf.config.PhysicalDevice(f"/physical_device:GPU:{index}", "GPU") for index in range(2)]
    growth = {}
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda device_type=None: gpus if device_type == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", lambda device, enable: growth.__setitem__(device.name, enable))
    assert backbone.share_gpu_memory() == [gpu.name for gpu in gpus]
    assert growth == {gpu.name: True for gpu in gpus}


def test_a_gpu_already_in_use_is_reported_not_fatal(monkeypatch, caplog):
    gpu = tf.config.PhysicalDevice("/physical_device:GPU:0", "GPU")

    def already_initialized(device, enable):
        raise RuntimeError("Physical devices cannot be modified after being initialized")

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda device_type=None: [gpu])
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", already_initialized)
    assert backbone.share_gpu_memory() == []
    assert "cannot set memory growth on /physical_device:GPU:0" in caplog.text
