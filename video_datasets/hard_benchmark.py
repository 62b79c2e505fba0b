"""The hard benchmark: actions inside longer clips, unseen scenes, order-only class pairs.

The model's yardstick of frame order. Six classes in three time-reversed pairs: an
event and its reverse, so that only frame ORDER tells the classes of a pair
apart. The events change something a CNN with global average pooling sees
(its features cannot tell where a thing is, only how much of what there is):

* `Grow`/`Shrink`: an object's size, ~10% -> ~80% of the frame's short side;
* `Brighten`/`Darken`: the whole scene's brightness, 15-30% -> 100%;
* `Sharpen`/`Blur`: the amount of fine texture (a Gaussian blur, sigma 5-8 -> 0).

What makes it hard, as in UCF101:

* every group (`v_<Class>_gNN_cNN`) has its own scene (background texture and
  colour, object shape and colour, frame size, noise level) shared by its clips,
  so a model can memorise scenes; train groups (8 and up, 16 of 2 clips a class
  by default) and test groups (1-7, 4 of 4 clips)
  are disjoint, so memorised scenes do not help on test;
* the action fills a random 25-90% stretch of the clip; the scene is static
  before and after it, and clips have 8 to 170 frames (log-uniform, so both
  clips shorter than the 20 sampled frames and long ones are common);
* frame sizes 320x240 to 480x300, three codecs (MJPG, XVID, mp4v), a slow
  camera pan in a random direction and per-frame sensor noise;
* a few corrupt files (empty, truncated, not a video) listed in the CSVs.

Every clip is drawn from its own random stream, keyed by (seed, class, group,
clip), so the same seed gives the same dataset whatever is generated first.

The shifted test set (`--shifted`, `SHIFTED`) shows the same test scenes with
the action filling the whole clip (40-100% of its course), in clips of 8 to 600 frames.

    python -m video_datasets.hard_benchmark OUTPUT_DIR [--seed N] [--shifted]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import cv2
import numpy as np

from video_datasets.demo import CODECS, FIRST_TRAIN_GROUP, clip_name, write_clip, write_csvs
from video_datasets.keras_layout import CSV_FILES as KERAS_CSV_FILES

# (forward class, its time-reversed partner)
CLASS_PAIRS: tuple[tuple[str, str], ...] = (("Grow", "Shrink"), ("Brighten", "Darken"), ("Sharpen", "Blur"))
CLASSES: tuple[str, ...] = tuple(name for pair in CLASS_PAIRS for name in pair)

WIDTH_RANGE, HEIGHT_RANGE = (320, 480), (240, 300)
MIN_FRAMES, MAX_FRAMES = 8, 170
ACTION_FRACTION_RANGE = (0.25, 0.90)  # share of the clip the action fills
MAX_PAN_PIXELS_PER_FRAME = 0.6
_NOISE_BANK_SIZE = 8


EASINGS = ("smoothstep", "linear")


@dataclasses.dataclass(frozen=True)
class BenchmarkConfig:
    """Size of the generated benchmark; the defaults give 192 train and 96 test clips.

    Training has many scenes with few clips each (16 groups of 2 a class), as
    UCF101 split 1 (18 training groups a class): a model learns to ignore what
    varies across the training scenes. With 8 groups of 4 the default model
    read the test group g01 (a dark object growing on a bright background) as
    Darken (mean test accuracy 0.938; 0.976 with 16 of 2). The test clips are
    the same either way (scenes and clips are keyed by group and clip number).
    """

    seed: int = 0
    train_groups: int = 16  # per class
    test_groups: int = 4  # per class, at most 7
    train_clips_per_group: int = 2
    test_clips_per_group: int = 4
    corrupt_files: bool = True  # 2 in train, 1 in test, listed in the CSVs
    action_fraction_range: tuple[float, float] = ACTION_FRACTION_RANGE
    num_frames_range: tuple[int, int] = (MIN_FRAMES, MAX_FRAMES)
    # Share of the action's course a clip shows: below 1, a random stretch of it (a window inside a longer action).
    course_fraction_range: tuple[float, float] = (1.0, 1.0)
    # How the action runs through its stretch: 'smoothstep' (slow start and end) or 'linear' (constant speed).
    easing: str = "smoothstep"

    def __post_init__(self) -> None:
        if (
            min(self.train_groups, self.train_clips_per_group, self.test_clips_per_group) < 1
            or not 1 <= self.test_groups < FIRST_TRAIN_GROUP
        ):
            raise ValueError(f"train_groups and clips per group must be >= 1 and test_groups in 1..7: {self}")
        low, high = self.action_fraction_range
        course_low, course_high = self.course_fraction_range
        if (
            not 0 < low <= high <= 1
            or not 0 < course_low <= course_high <= 1
            or not 2 <= self.num_frames_range[0] <= self.num_frames_range[1]
        ):
            raise ValueError(f"need 0 < action and course fractions <= 1 and at least 2 frames a clip: {self}")
        if self.easing not in EASINGS:
            raise ValueError(f"easing must be one of {', '.join(EASINGS)}: {self}")


# The shifted test set: the same unseen test scenes, but the action fills the WHOLE clip
# (training clips show it over 25-90%, static before and after), the clip shows a random 40-100% stretch
# of the action's course (a window inside a longer action: less change than any training clip shows)
# and clips run 8-600 frames (training: 8-170). Only its test split is meant to be used; train is a stub
# of two groups of one clip a class.
SHIFTED = BenchmarkConfig(
    train_groups=2,
    train_clips_per_group=1,
    corrupt_files=False,
    action_fraction_range=(1.0, 1.0),
    num_frames_range=(8, 600),
    course_fraction_range=(0.4, 1.0),
)

# Held-out yardsticks, never tuned on: other scenes (seed 1: every scene, object and noise drawn anew),
# other timings (clips of 12-250 frames, the action over 20-95% of them) and another easing (constant
# speed, where training clips start and stop slowly). Test split only; train is a stub.
HELDOUT_SEED = 1
HELDOUT_TEST = BenchmarkConfig(
    seed=HELDOUT_SEED,
    train_groups=2,
    train_clips_per_group=1,
    test_clips_per_group=2,
    corrupt_files=False,
    action_fraction_range=(0.2, 0.95),
    num_frames_range=(12, 250),
    easing="linear",
)
# The action filling the whole clip from its first frame to its last, its whole course (a clip cut exactly
# at the action's boundaries), 48-150 frames, in held-out scenes.
HELDOUT_WHOLE = dataclasses.replace(HELDOUT_TEST, action_fraction_range=(1.0, 1.0), num_frames_range=(48, 150))


@dataclasses.dataclass(frozen=True)
class _Scene:
    """What the clips of one group share."""

    width: int
    height: int
    canvas: np.ndarray  # float32 [height + margin, width + margin, 3], the panned background
    object_color: np.ndarray  # float32 [3]
    object_shape: str  # 'circle', 'square' or 'ellipse'
    object_size: float  # resting size, share of the short side (classes other than Grow/Shrink)
    noise_sigma: float


def _smoothstep(t: np.ndarray) -> np.ndarray:
    return t * t * (3.0 - 2.0 * t)


def _textured_canvas(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A background: a base colour, smooth blobs at two scales and fine grain (for Sharpen/Blur to act on)."""
    base = rng.uniform(40, 200, size=3)
    canvas = np.zeros((height, width, 3), dtype=np.float32)
    for cells, amplitude in ((rng.integers(3, 7), rng.uniform(20, 50)), (rng.integers(10, 30), rng.uniform(10, 30))):
        coarse = rng.uniform(-1.0, 1.0, size=(cells, cells, 3)).astype(np.float32)
        canvas += amplitude * cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    # Fine grain of 2-4 pixel cells: texture that a blur removes.
    cell = int(rng.integers(2, 5))
    grain = rng.uniform(-1.0, 1.0, size=(height // cell + 1, width // cell + 1, 1)).astype(np.float32)
    grain = cv2.resize(grain, (grain.shape[1] * cell, grain.shape[0] * cell), interpolation=cv2.INTER_NEAREST)
    canvas += rng.uniform(25, 45) * grain[:height, :width, None]
    return np.clip(canvas + base, 0, 255)


def _scene(seed: int, class_index: int, group: int) -> _Scene:
    rng = np.random.default_rng([seed, 1, class_index, group])
    width = int(rng.integers(WIDTH_RANGE[0] // 16, WIDTH_RANGE[1] // 16 + 1)) * 16
    height = int(rng.integers(HEIGHT_RANGE[0] // 4, HEIGHT_RANGE[1] // 4 + 1)) * 4
    margin = int(np.ceil(MAX_PAN_PIXELS_PER_FRAME * MAX_FRAMES)) + 2
    canvas = _textured_canvas(rng, height + margin, width + margin)
    background_mean = canvas.mean(axis=(0, 1))
    # Each channel far from the background's, so the object always stands out.
    object_color = ((background_mean + 128 + rng.uniform(-40, 40, size=3)) % 256).astype(np.float32)
    return _Scene(
        width=width,
        height=height,
        canvas=canvas,
        object_color=object_color,
        object_shape=str(rng.choice(["circle", "square", "ellipse"])),
        object_size=float(rng.uniform(0.25, 0.45)),
        noise_sigma=float(rng.uniform(2.0, 6.0)),
    )


def _draw_object(frame: np.ndarray, scene: _Scene, center: tuple[int, int], size: float, texture: np.ndarray) -> None:
    """Draws the scene's object (size = share of the short side) onto `frame`, in place."""
    half = max(1, int(round(size * min(scene.width, scene.height) / 2)))
    mask = np.zeros(frame.shape[:2], dtype=np.uint8)
    if scene.object_shape == "circle":
        cv2.circle(mask, center, half, 1, thickness=-1)
    elif scene.object_shape == "square":
        cv2.rectangle(mask, (center[0] - half, center[1] - half), (center[0] + half, center[1] + half), 1, thickness=-1)
    else:
        cv2.ellipse(mask, center, (half, max(1, int(half * 0.6))), 0, 0, 360, 1, thickness=-1)
    inside = mask.astype(bool)
    # The object carries the scene's grain too, so blurring acts on it as on the background.
    frame[inside] = scene.object_color + 0.5 * texture[inside]


def _clip_frames(
    scene: _Scene, class_name: str, num_frames: int, rng: np.random.Generator, noise_bank: np.ndarray, config: BenchmarkConfig
) -> list[np.ndarray]:
    """The frames of one clip: static, then the action over a random stretch, then static."""
    pair_index = next(index for index, pair in enumerate(CLASS_PAIRS) if class_name in pair)
    forward = class_name == CLASS_PAIRS[pair_index][0]
    action_frames = max(2, int(round(rng.uniform(*config.action_fraction_range) * num_frames)))
    action_frames = min(action_frames, num_frames)
    start = int(rng.integers(0, num_frames - action_frames + 1))
    t = np.clip((np.arange(num_frames) - start) / max(1, action_frames - 1), 0.0, 1.0)
    if config.course_fraction_range != (1.0, 1.0):  # drawn only then: the default benchmark's clips stay the same
        course = rng.uniform(*config.course_fraction_range)
        t = rng.uniform(0.0, 1.0 - course) + course * t
    progress = _smoothstep(t) if config.easing == "smoothstep" else t
    if not forward:
        progress = 1.0 - progress

    # The event's end points, drawn per clip.
    small, large = rng.uniform(0.08, 0.15), rng.uniform(0.7, 0.85)
    dim, bright = rng.uniform(0.15, 0.3), 1.0
    blurred_sigma = rng.uniform(5.0, 8.0)
    # Camera: a slow pan in a random direction; the object sits near the centre (inside the centre crop).
    angle = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(0.1, MAX_PAN_PIXELS_PER_FRAME)
    margin_y = scene.canvas.shape[0] - scene.height
    margin_x = scene.canvas.shape[1] - scene.width
    origin = np.array([margin_y / 2, margin_x / 2]) - np.array([np.sin(angle), np.cos(angle)]) * speed * num_frames / 2
    jitter = rng.integers(-scene.height // 12, scene.height // 12 + 1, size=2)
    center = (scene.width // 2 + int(jitter[0]), scene.height // 2 + int(jitter[1]))
    grain = scene.canvas - cv2.blur(scene.canvas, (9, 9))

    frames = []
    for index, p in enumerate(progress):
        y, x = np.clip(origin + np.array([np.sin(angle), np.cos(angle)]) * speed * index, 0, [margin_y, margin_x]).astype(int)
        frame = scene.canvas[y : y + scene.height, x : x + scene.width].copy()
        texture = grain[y : y + scene.height, x : x + scene.width]
        size = small + (large - small) * p if pair_index == 0 else scene.object_size
        _draw_object(frame, scene, center, size, texture)
        if pair_index == 2:
            sigma = blurred_sigma * (1.0 - p)
            if sigma > 0.3:
                frame = cv2.GaussianBlur(frame, (0, 0), sigma)
        if pair_index == 1:
            frame *= dim + (bright - dim) * p
        noise = noise_bank[int(rng.integers(len(noise_bank)))]
        oy, ox = rng.integers(0, noise.shape[0] - scene.height + 1), rng.integers(0, noise.shape[1] - scene.width + 1)
        frame += scene.noise_sigma * noise[oy : oy + scene.height, ox : ox + scene.width]
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


def _num_frames(rng: np.random.Generator, num_frames_range: tuple[int, int]) -> int:
    # Log-uniform: as many clips of 8-37 frames as of 37-170.
    low, high = num_frames_range
    return int(round(np.exp(rng.uniform(np.log(low), np.log(high)))))


def _write_corrupt_files(output_dir: str, config: BenchmarkConfig, rows: dict[str, list[tuple[str, str]]]) -> None:
    """An empty file and a truncated clip in train, bytes that are no video in test."""
    first_train, first_test = FIRST_TRAIN_GROUP, 1
    extra_clip = max(config.train_clips_per_group, config.test_clips_per_group) + 1
    empty = clip_name(CLASSES[0], first_train, extra_clip, ".avi")
    open(os.path.join(output_dir, "train", empty), "wb").close()
    # A real clip's first third: the container promises frames the file no longer has.
    source = os.path.join(output_dir, "train", clip_name(CLASSES[3], first_train, 1, ".avi"))
    truncated = clip_name(CLASSES[3], first_train, extra_clip, ".avi")
    with open(source, "rb") as source_file:
        payload = source_file.read()
    with open(os.path.join(output_dir, "train", truncated), "wb") as target:
        target.write(payload[: len(payload) // 3])
    garbage = clip_name(CLASSES[5], first_test, extra_clip, ".mp4")
    with open(os.path.join(output_dir, "test", garbage), "wb") as target:
        target.write(np.random.default_rng([config.seed, 3]).integers(0, 256, size=4096, dtype=np.uint8).tobytes())
    rows["train"] += [(empty, CLASSES[0]), (truncated, CLASSES[3])]
    rows["test"].append((garbage, CLASSES[5]))


def groups_of_splits(config: BenchmarkConfig) -> dict[str, tuple[range, int]]:
    """split -> (its group numbers, clips a group and class): test groups 1.., train groups from FIRST_TRAIN_GROUP."""
    return {
        "train": (range(FIRST_TRAIN_GROUP, FIRST_TRAIN_GROUP + config.train_groups), config.train_clips_per_group),
        "test": (range(1, 1 + config.test_groups), config.test_clips_per_group),
    }


def generate_hard_benchmark(output_dir: str, config: BenchmarkConfig = BenchmarkConfig()) -> str:
    """Writes the benchmark (train.csv, test.csv, train/, test/) to `output_dir`; returns it."""
    noise_bank = (
        np.random.default_rng([config.seed, 2])
        .normal(0.0, 1.0, size=(_NOISE_BANK_SIZE, HEIGHT_RANGE[1] + 16, WIDTH_RANGE[1] + 16, 1))
        .astype(np.float32)
    )
    rows: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}
    for split, (split_groups, clips_per_group) in groups_of_splits(config).items():
        os.makedirs(os.path.join(output_dir, split), exist_ok=True)
        for class_index, class_name in enumerate(CLASSES):
            for group in split_groups:
                scene = _scene(config.seed, class_index, group)
                for clip in range(1, clips_per_group + 1):
                    rng = np.random.default_rng([config.seed, 0, class_index, group, clip])
                    fourcc, extension = CODECS[(class_index + group + clip) % len(CODECS)]
                    name = clip_name(class_name, group, clip, extension)
                    frames = _clip_frames(scene, class_name, _num_frames(rng, config.num_frames_range), rng, noise_bank, config)
                    write_clip(os.path.join(output_dir, split, name), frames, fourcc)
                    rows[split].append((name, class_name))
    if config.corrupt_files:
        _write_corrupt_files(output_dir, config, rows)
    write_csvs(output_dir, rows)
    return output_dir


def write_action_sequence(
    path: str,
    classes: tuple[str, ...],
    group: int,
    seed: int = 0,
    frames_per_action: tuple[int, int] = (60, 120),
    easing: str = "smoothstep",
) -> list[dict[str, int | str]]:
    """A video of the actions of `classes` in a row, each filling its stretch, in the scene of test group `group`.

    The timeline check: a window centred in each action, or cut exactly at its boundaries, must name it.
    Returns each action's {label, start_frame, end_frame (exclusive)}; 25 frames/s, MJPG.
    """
    noise_bank = (
        np.random.default_rng([seed, 2]).normal(0.0, 1.0, size=(2, HEIGHT_RANGE[1] + 16, WIDTH_RANGE[1] + 16, 1)).astype(np.float32)
    )
    rng = np.random.default_rng([seed, 4, group, *(CLASSES.index(name) for name in classes)])
    scene = _scene(seed, CLASSES.index(classes[0]), group)
    whole_clip = dataclasses.replace(BenchmarkConfig(), action_fraction_range=(1.0, 1.0), easing=easing)
    frames: list[np.ndarray] = []
    actions: list[dict[str, int | str]] = []
    for name in classes:
        num_frames = int(rng.integers(frames_per_action[0], frames_per_action[1] + 1))
        actions.append({"label": name, "start_frame": len(frames), "end_frame": len(frames) + num_frames})
        frames += _clip_frames(scene, name, num_frames, rng, noise_bank, whole_clip)
    write_clip(path, frames, "MJPG")
    return actions


def ensure_hard_benchmark(output_dir: str, config: BenchmarkConfig = BenchmarkConfig()) -> str:
    """Generates the benchmark into `output_dir` unless it is already there (both CSVs written last)."""
    if not all(os.path.exists(os.path.join(output_dir, name)) for name in KERAS_CSV_FILES.values()):
        generate_hard_benchmark(output_dir, config)
    return output_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m video_datasets.hard_benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("output_dir", metavar="OUTPUT_DIR", help="folder for train.csv, test.csv, train/ and test/")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same dataset (default: %(default)s)")
    parser.add_argument(
        "--train-groups", type=int, default=BenchmarkConfig.train_groups, help="train groups per class (default: %(default)s)"
    )
    parser.add_argument(
        "--test-groups", type=int, default=BenchmarkConfig.test_groups, help="test groups per class, 1-7 (default: %(default)s)"
    )
    parser.add_argument("--train-clips-per-group", type=int, default=BenchmarkConfig.train_clips_per_group, help="(default: %(default)s)")
    parser.add_argument("--test-clips-per-group", type=int, default=BenchmarkConfig.test_clips_per_group, help="(default: %(default)s)")
    parser.add_argument(
        "--shifted",
        action="store_true",
        help="the shifted test set: actions filling the whole clip, 40-100%% of their course, 8-600 frames (its train split is a stub)",
    )
    args = parser.parse_args(argv)
    try:
        if args.shifted:
            config = dataclasses.replace(
                SHIFTED, seed=args.seed, test_groups=args.test_groups, test_clips_per_group=args.test_clips_per_group
            )
        else:
            config = BenchmarkConfig(args.seed, args.train_groups, args.test_groups, args.train_clips_per_group, args.test_clips_per_group)
    except ValueError as error:
        parser.error(str(error))
    started = time.perf_counter()
    generate_hard_benchmark(args.output_dir, config)
    clips = len(CLASSES) * (config.train_groups * config.train_clips_per_group + config.test_groups * config.test_clips_per_group)
    print(f"Hard benchmark: {clips} clips in {os.path.abspath(args.output_dir)} ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
