"""typed_config: a config that composes another offers the composed one's options flat, by their own names."""

import dataclasses

import pytest

from typed_config import InvalidOption, build, check_fields, field_types, flat_values, option, option_fields


@dataclasses.dataclass(frozen=True)
class Inner:
    size: int = option(4, "a size", minimum=1)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclasses.dataclass(frozen=True)
class Outer:
    inner: Inner = Inner()
    workers: int = option(0, "workers", minimum=0)

    def __post_init__(self) -> None:
        check_fields(self)


def test_a_composed_configs_options_are_flat_and_build_back():
    assert [field.name for field in option_fields(Outer)] == ["size", "workers"]
    assert field_types(Outer) == {"size": int, "workers": int}
    config = build(Outer, {"size": 8, "unrelated": 1})
    assert config == Outer(Inner(8)) and flat_values(config) == {"size": 8, "workers": 0}
    with pytest.raises(KeyError, match="workers"):
        build(Outer, {"size": 8}, complete=True)
    with pytest.raises(InvalidOption, match="size must be at least 1"):
        build(Outer, {"size": 0})
    with pytest.raises(InvalidOption, match="inner must be of type Inner, got 3"):
        Outer(inner=3)


def test_two_options_of_one_name_are_refused():
    @dataclasses.dataclass(frozen=True)
    class Clash:
        inner: Inner = Inner()
        size: int = option(1, "another size")

    with pytest.raises(ValueError, match="size"):
        option_fields(Clash)
