"""pgqueue/_payloads.py on its own: the edges the worker tests do not reach."""

from __future__ import annotations

import dataclasses

import pydantic
import pytest

from pgqueue import _payloads as payloads
from pgqueue._payloads import dump_arguments, dump_result, load_result, rebuild_arguments
from pgqueue.errors import PayloadValidationError, SerializationError


@dataclasses.dataclass
class Positive:
    n: int

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise ValueError("n must be positive")


class Loud(pydantic.BaseModel):
    x: int

    @pydantic.model_serializer
    def never(self) -> dict[str, int]:
        raise RuntimeError("cannot dump")


def takes(p: Positive, /, q: Positive | None = None, *rest: Positive, **more: Positive) -> Loud:
    return Loud(x=p.n)


def plain(x: int, y: dict[str, int]) -> dict[str, int]:
    return y


def test_a_post_init_error_is_a_validation_error_naming_the_parameter() -> None:
    with pytest.raises(PayloadValidationError, match=r"^q: n must be positive$"):
        rebuild_arguments(takes, [{"n": 1}], {"q": {"n": 0}})


def test_positional_and_keyword_shapes_are_kept_and_var_arguments_untouched() -> None:
    assert dump_arguments(takes, (Positive(1), Positive(2), Positive(3)), {"z": Positive(4)}) == (
        ({"n": 1}, {"n": 2}, Positive(3)),
        {"z": Positive(4)},
    )
    assert rebuild_arguments(takes, [{"n": 1}], {"q": None}) == ([Positive(1)], {"q": None})


def test_functions_without_typed_payloads_pass_through_unchanged() -> None:
    args, kwargs = [1], {"y": {"a": 1}}
    assert rebuild_arguments(plain, args, kwargs) == (args, kwargs)
    assert dump_result(plain, {"a": 1}) == {"a": 1}
    assert load_result(plain, {"a": 1}) == {"a": 1}
    with pytest.raises(TypeError, match="missing a required argument: 'y'"):
        rebuild_arguments(plain, [1], {})


def test_a_result_that_cannot_dump_is_a_serialization_error() -> None:
    with pytest.raises(
        SerializationError, match=r"result of takes does not dump: .*RuntimeError: cannot dump"
    ):
        dump_result(takes, Loud(x=1))


def test_a_shape_that_bound_once_is_not_bound_again_and_one_that_failed_always_is() -> None:
    def shaped(a: int, b: int = 0, **more: int) -> None: ...

    fitting = payloads._typed(shaped).fitting
    assert rebuild_arguments(shaped, [1], {"b": 2}) == ([1], {"b": 2})
    assert fitting == {(1, ("b",))}
    assert rebuild_arguments(shaped, [3], {"b": 4}) == ([3], {"b": 4})
    assert fitting == {(1, ("b",))}
    for _ in range(2):  # a refused shape is never remembered as fitting
        with pytest.raises(TypeError, match="multiple values for argument 'b'"):
            rebuild_arguments(shaped, [1, 2], {"b": 3})
        with pytest.raises(TypeError, match="too many positional arguments"):
            rebuild_arguments(shaped, [1, 2, 3], {})
    assert fitting == {(1, ("b",))}
    # **more takes any keyword set: only so many shapes are remembered, every one still binds.
    for n in range(100):
        assert rebuild_arguments(shaped, [n], {f"k{n}": n}) == ([n], {f"k{n}": n})
    assert len(fitting) == payloads._FITTING_SHAPES
