"""The eval split, carved out of the training clips by UCF101 group, so that no group (same actor, same background) is on both sides."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from video_datasets.listing import ListedClip, group_of

# Share of the training groups held out as `eval` (early stopping, model selection).
EVAL_GROUP_FRACTION = 0.15


def assign_eval_groups(groups: Iterable[str], eval_fraction: float) -> set[str]:
    """The groups held out as `eval`: deterministic and independent of input order.

    Distinct groups are ranked by the sha256 of their key (a fixed pseudo-random
    order that does not depend on how rows were listed) and the first
    max(1, round(eval_fraction * n)) are taken; none when there are fewer than
    2 groups, and never all of them, so that `train` keeps at least one group.
    """
    if not 0.0 <= eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    distinct_groups = sorted(set(groups), key=lambda group: (hashlib.sha256(group.encode("utf-8")).hexdigest(), group))
    if len(distinct_groups) < 2:
        return set()
    count = min(max(1, round(eval_fraction * len(distinct_groups))), len(distinct_groups) - 1)
    return set(distinct_groups[:count])


def eval_groups_per_class(rows: Iterable[ListedClip], problems: Mapping[str, str | None], eval_fraction: float) -> dict[str, set[str]]:
    """Label -> its training groups held out as eval.

    Chosen per class, so the carve-out never takes all of a class's training
    groups; a class with a single group keeps it for training. Only groups with
    a clip that may be a video count (`problems[relative_path]` is None): a junk
    file (a macOS '._' file, a listed clip that is missing) is its own group and
    would otherwise become a class's only, empty, eval group. The ranking is the
    same for every class (sha256 of the group key), so classes sharing group
    numbers hold out the same ones where they can.
    """
    train_groups: dict[str, set[str]] = {}
    for row in rows:
        if row.split == "train" and problems[row.relative_path] is None:
            train_groups.setdefault(row.label, set()).add(group_of(row.relative_path))
    return {label: assign_eval_groups(groups, eval_fraction) for label, groups in train_groups.items()}
