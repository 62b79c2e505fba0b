"""requirements.lock: the whole resolved stack, pinned with hashes, that `make install` and the image
install. It must agree with requirements.txt and overrides.txt (`make lock` regenerates it)."""

import os
import re

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import PROJECT_ROOT

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^ ;\\]+)")


def _requirements(name):
    with open(os.path.join(PROJECT_ROOT, name)) as requirements_file:
        lines = (line.split("#", 1)[0].strip() for line in requirements_file)
        return [Requirement(line) for line in lines if line]


def _locked():
    """{canonical name: (version, [hashes])} of requirements.lock."""
    locked, current = {}, None
    with open(os.path.join(PROJECT_ROOT, "requirements.lock")) as lock_file:
        for line in lock_file:
            match = PIN.match(line)
            if match:
                current = canonicalize_name(match.group(1))
                locked[current] = (match.group(3), [])
            elif line.strip().startswith("--hash=sha256:"):
                locked[current][1].append(line.strip().split(":", 1)[1].rstrip(" \\"))
    return locked


def test_every_locked_package_has_hashes():
    locked = _locked()
    assert len(locked) > 100  # the whole TFX stack, not only the top-level packages
    assert all(hashes for _, hashes in locked.values()), [name for name, (_, hashes) in locked.items() if not hashes]


def test_the_lock_satisfies_requirements_and_overrides():
    """Run `make lock` after changing requirements.txt or overrides.txt."""
    locked = _locked()
    overridden = {canonicalize_name(requirement.name) for requirement in _requirements("overrides.txt")}
    for name in ("requirements.txt", "overrides.txt"):
        for requirement in _requirements(name):
            key = canonicalize_name(requirement.name)
            if name == "requirements.txt" and key in overridden:
                continue  # the override wins
            assert key in locked, f"{requirement} ({name}) is not in requirements.lock: make lock"
            assert requirement.specifier.contains(locked[key][0], prereleases=True), (
                f"{requirement} ({name}) but requirements.lock has {locked[key][0]}: make lock"
            )


def test_the_tools_install_from_the_lock_too():
    """pip (TFX pip-installs user code) and the test tools are in the lock like the rest."""
    assert {"pip", "pytest", "pytest-xdist", "apache-beam", "tfx"} <= set(_locked())
