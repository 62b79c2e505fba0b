"""Feature probe: which spatial summaries of DenseNet121's 4x4 map (random init) carry the hard benchmark's order on held-out scenes?

    .venv/bin/python benchmarks/pooling_probe.py [WORK_DIR]    # WORK_DIR of model_quality.py (default /tmp/mq36), its sets generated

Per clip: 20 uniform frames, the pipeline's crop and resize, the random-init DenseNet121 map (cached in
WORK_DIR/probe_maps.npz); per pooling, the clip's change descriptor (the mean of the last third of its frames
minus the first third, features z-scored with the training clips' statistics); a logistic regression trained
on the hard benchmark's train+eval clips, scored on its test split (tuned) and the held-out sets
(heldout_whole, heldout_test), with Grow's recall beside each (the class the map's maximum loses on held-out
scenes: a dark object growing on a brighter background). One JSON object to WORK_DIR/probe.json.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
WORK_DIR = sys.argv[1] if len(sys.argv) > 1 else "/tmp/mq36"
import keras
import numpy as np

from frame_path.backbone import encode_frames
from frame_path.config import ExtractionConfig
from frame_path.frames import decode_clip
from video_datasets.manifest import read_manifest

cache = os.path.join(WORK_DIR, "probe_maps.npz")
sets = {
    "train": ("data", ("train", "eval")),
    "test": ("data", ("test",)),
    "heldout_whole": ("data_heldout_whole", ("test",)),
    "heldout_test": ("data_heldout_test", ("test",)),
}
if os.path.exists(cache):
    loaded = np.load(cache, allow_pickle=True)
    data = {k: (loaded[f"{k}_maps"], loaded[f"{k}_labels"], loaded[f"{k}_ids"]) for k in sets}
else:
    cfg = ExtractionConfig(weights="none", precision="float32", frame_pooling="max")
    model = cfg.build_backbone()
    map_model = keras.Model(model.input, model.get_layer("max_pool").input)
    data = {}
    for name, (root, splits) in sets.items():
        clips = [c for c in read_manifest(os.path.join(WORK_DIR, root)) if c.split in splits and c.problem is None]
        maps, labels, ids = [], [], []
        started = time.time()
        for clip in clips:
            try:
                decoded = decode_clip(clip.path, cfg.max_seq_length, cfg.image_size, "uniform")
            except Exception as error:
                print("skip", clip.video_id, error, file=sys.stderr)
                continue
            m = encode_frames(map_model, decoded.frames, 32)  # [T, 4, 4, 1024]
            t = np.zeros((cfg.max_seq_length, *m.shape[1:]), np.float32)
            t[: len(m)] = m
            maps.append(t)
            labels.append(clip.label)
            ids.append(len(m))
        data[name] = (np.stack(maps), np.array(labels), np.array(ids))
        print(name, len(maps), f"{time.time() - started:.0f} s", file=sys.stderr, flush=True)
    np.savez(cache, **{f"{k}_{p}": v[i] for k, v in data.items() for i, p in enumerate(("maps", "labels", "ids"))})


def pooled(maps, kind):
    if kind == "max":
        return maps.max(axis=(2, 3))
    if kind == "centre_max":
        return maps[:, :, 1:3, 1:3].max(axis=(2, 3))
    if kind == "min":
        return maps.min(axis=(2, 3))
    if kind == "avg":
        return maps.mean(axis=(2, 3))
    if kind == "centre_avg":
        return maps[:, :, 1:3, 1:3].mean(axis=(2, 3))
    if kind == "ring_max":  # the 12 border cells
        border = np.ones((4, 4), bool)
        border[1:3, 1:3] = False
        return maps[:, :, border].max(axis=2)
    raise ValueError(kind)


def descriptor(features, lengths):
    out = []
    for f, n in zip(features, lengths):
        third = max(1, n // 3)
        out.append(f[n - third : n].mean(0) - f[:third].mean(0))
    return np.stack(out)


from sklearn.linear_model import LogisticRegression

combos = [("max",), ("max", "centre_max"), ("max", "min"), ("max", "avg"), ("max", "ring_max"), ("max", "centre_avg"), ("avg",)]
results = {}
for combo in combos:
    feats = {}
    for name, (maps, _labels, _lengths) in data.items():
        feats[name] = np.concatenate([pooled(maps, kind) for kind in combo], axis=-1)  # [N, T, D]
    train = feats["train"]
    lengths = data["train"][2]
    real = np.concatenate([f[:n] for f, n in zip(train, lengths)])
    mean, std = real.mean(0), real.std(0) + 1e-3
    desc = {name: descriptor((f - mean) / std, data[name][2]) for name, f in feats.items()}
    for C in (0.01, 0.1):
        clf = LogisticRegression(C=C, max_iter=3000).fit(desc["train"], data["train"][1])
        row = {}
        for name in ("test", "heldout_whole", "heldout_test"):
            pred = clf.predict(desc[name])
            y = data[name][1]
            row[name] = round(float((pred == y).mean()), 3)
            grow = y == "Grow"
            row[f"{name}_grow"] = round(float((pred[grow] == "Grow").mean()), 3)
        results[f"{'+'.join(combo)} C={C}"] = row
        print(f"{'+'.join(combo):>16} C={C:<5}", row, flush=True)
with open(os.path.join(WORK_DIR, "probe.json"), "w") as output:
    json.dump(results, output, indent=1)
