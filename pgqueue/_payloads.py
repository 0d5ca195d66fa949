"""Typed payloads: Pydantic models and dataclasses as a task's arguments and result.

A parameter (or the return) annotated with a Pydantic model or a dataclass, or either `| None`,
is a typed payload. At enqueue an instance of it is written as JSON (`model_dump(mode="json")`,
`dataclasses.asdict`); in the worker the JSON is rebuilt from the annotation before the function
is called (`Model.model_validate`, `Dataclass(**fields)`), so the task receives the instance it
was annotated with, and a payload that does not validate is refused with its field errors (the
executor dead-letters such a job, kind `payload`, no retry). A returned instance is stored as
JSON the same way and `App.result(job_id, task=...)` rebuilds it.

Pydantic is never imported here: a model annotation means the application imported it already,
so `sys.modules` says whether a class is a model. Everything else passes through unchanged, so a
task without typed payloads behaves exactly as before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import sys
import types
import typing
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pgqueue.errors import PayloadValidationError, SerializationError

__all__ = ["dump_arguments", "dump_result", "load_result", "rebuild_arguments"]

_RETURN = "return"


@dataclasses.dataclass(frozen=True, slots=True)
class _Typed:
    """The typed payloads of one function: parameter name -> class, and the return's class;
    its signature and positional parameter names, read once; and the argument shapes (how many
    positional, which keywords) already known to bind, so a worker binds once per shape, not
    once per job."""

    params: Mapping[str, type]
    result: type | None
    signature: inspect.Signature
    positional: tuple[str, ...]
    fitting: set[tuple[int, tuple[str, ...]]] = dataclasses.field(default_factory=set)


# Whether arguments bind depends only on how many are positional and which keywords they name;
# a task taking **kwargs could see any number of keyword sets, so only this many are remembered.
_FITTING_SHAPES = 64

# Per function, computed at its first enqueue or job (annotations resolve by then); weak, so a
# task defined in a test function does not stay alive.
_CACHE: weakref.WeakKeyDictionary[Callable[..., Any], _Typed] = weakref.WeakKeyDictionary()


def _model_base() -> type | None:
    pydantic = sys.modules.get("pydantic")
    return getattr(pydantic, "BaseModel", None) if pydantic is not None else None


def _payload_class(annotation: Any) -> type | None:
    """The model or dataclass `annotation` names (also as `X | None`), or None."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(rest) != 1:
            return None
        annotation = rest[0]
    if not isinstance(annotation, type):
        return None
    base = _model_base()
    if base is not None and issubclass(annotation, base):
        return annotation
    return annotation if dataclasses.is_dataclass(annotation) else None


def _typed(fn: Callable[..., Any]) -> _Typed:
    try:
        return _CACHE[fn]
    except (KeyError, TypeError):  # not seen yet, or not weakly referenceable
        pass
    typed = _read(fn)
    with contextlib.suppress(TypeError):
        _CACHE[fn] = typed
    return typed


def _read(fn: Callable[..., Any]) -> _Typed:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation that does not resolve: only real classes count
        hints = {k: v for k, v in getattr(fn, "__annotations__", {}).items() if isinstance(v, type)}
    signature = inspect.signature(fn)
    params = {}
    for name, param in signature.parameters.items():
        cls = _payload_class(hints.get(name))
        if cls is not None and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            params[name] = cls
    positional = tuple(
        p.name
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    )
    return _Typed(params, _payload_class(hints.get(_RETURN)), signature, positional)


def _dump(value: Any) -> Any:
    """An instance of a model or a dataclass as JSON-ready data; anything else unchanged."""
    base = _model_base()
    if base is not None and isinstance(value, base):
        return value.model_dump(mode="json")  # type: ignore[attr-defined]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def _load(cls: type, value: Any, where: str) -> Any:
    """Rebuild `cls` from its JSON `value`; PayloadValidationError naming the fields if not."""
    if value is None or isinstance(value, cls):
        return value
    base = _model_base()
    try:
        if base is not None and issubclass(cls, base):
            return cls.model_validate(value)  # type: ignore[attr-defined]
        if not isinstance(value, dict):
            raise TypeError(
                f"expected a JSON object for {cls.__name__}, got {type(value).__name__}"
            )
        return cls(**value)  # a pydantic dataclass validates here; a plain one checks names
    except Exception as exc:  # ValidationError (a ValueError), or a __post_init__'s own error
        raise PayloadValidationError(_field_errors(exc, where)) from exc


def _field_errors(exc: Exception, where: str) -> str:
    """`invoice.cents: Input should be a valid integer; invoice.due: Field required` from a
    pydantic ValidationError; `where: message` from anything else."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return f"{where}: {exc}"
    return "; ".join(
        f"{'.'.join([where, *(str(part) for part in error['loc'])])}: {error['msg']}"
        for error in errors()
    )


def _each_typed(
    fn: Callable[..., Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    convert: Callable[[str, type, Any], Any],
) -> tuple[list[Any], dict[str, Any]]:
    """`convert` applied to each typed payload among the arguments, keeping which are positional
    and which keyword (what is stored is what the caller wrote, only JSON-ready)."""
    typed = _typed(fn).params
    positional = _typed(fn).positional
    new_args = [
        convert(positional[i], typed[positional[i]], value)
        if i < len(positional) and positional[i] in typed
        else value
        for i, value in enumerate(args)
    ]
    new_kwargs = {
        name: convert(name, typed[name], value) if name in typed else value
        for name, value in kwargs.items()
    }
    return new_args, new_kwargs


def dump_arguments(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """At enqueue: the arguments with each typed payload instance written as JSON-ready data."""
    if not _typed(fn).params:
        return args, kwargs
    new_args, new_kwargs = _each_typed(fn, args, kwargs, lambda _n, _c, value: _dump(value))
    return tuple(new_args), new_kwargs


def check_arguments(fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """TypeError unless the arguments fit `fn`'s signature (inspect's message)."""
    _check_fits(_typed(fn), args, kwargs)


def rebuild_arguments(
    fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """In the worker: check the arguments fit `fn` (TypeError if not) and rebuild each typed
    payload from its annotation (PayloadValidationError, a TypeError, naming the fields)."""
    typed = _typed(fn)
    _check_fits(typed, args, kwargs)
    if not typed.params:
        return args, kwargs
    return _each_typed(fn, args, kwargs, lambda name, cls, value: _load(cls, value, name))


def _check_fits(typed: _Typed, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """TypeError unless the arguments bind to the function's signature. Whether they bind
    depends only on their shape, so each shape is bound once (a bind costs more than the rest
    of an enqueue's Python work)."""
    shape = (len(args), tuple(kwargs))
    if shape not in typed.fitting:
        typed.signature.bind(*args, **kwargs)
        if len(typed.fitting) < _FITTING_SHAPES:
            typed.fitting.add(shape)


def dump_result(fn: Callable[..., Any], value: Any) -> Any:
    """The result of `fn` as JSON-ready data when its return is annotated as a typed payload."""
    if _typed(fn).result is None:
        return value
    try:
        return _dump(value)
    except Exception as exc:  # a model that cannot dump itself: the job's `result` failure
        raise SerializationError(f"result of {fn.__qualname__} does not dump: {exc}") from exc


def load_result(fn: Callable[..., Any], value: Any) -> Any:
    """A stored result rebuilt from `fn`'s return annotation (unchanged when it is not one)."""
    cls = _typed(fn).result
    return value if cls is None else _load(cls, value, "result")
