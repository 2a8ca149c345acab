"""Registries of tasks and models: small, strict, helpful.

A task or model registers under a name; registering a name twice is an error, and an unknown
name fails with the list of known names. The harness looks everything up here and never
branches on a name. A user's model lives in a file of their own, loaded with `load_plugin`.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ntm_bench.errors import BenchError, choices


@dataclass(frozen=True)
class TaskEntry:
    name: str
    cls: type


@dataclass(frozen=True)
class ModelEntry:
    name: str
    cls: type
    config: type | None  # frozen dataclass of the model's options, or None (no options)
    presets: dict = field(default_factory=dict)  # preset -> task -> {"options": {...}, "train": {...}}
    tasks: tuple[str, ...] | None = None  # tasks the model can run (None: all)
    reference: bool = False  # a non-neural reference row (e.g. the optimal N-gram predictor)
    source: str = ""  # module or plugin file it came from

    def make_config(self, options: dict | None = None):
        """Build the config dataclass from a dict, strictly (unknown keys and bad types are errors)."""
        from ntm_bench.config import build_dataclass

        options = dict(options or {})
        if self.config is None:
            if options:
                raise BenchError(f"model {self.name!r} takes no options, got: {choices(options)}")
            return None
        return build_dataclass(self.config, options, where=f"model {self.name!r} option")

    def build(self, input_size: int, output_size: int, options: dict | None = None):
        cfg = self.make_config(options)
        if self.config is None:
            return self.cls(input_size, output_size)
        return self.cls(input_size, output_size, cfg)


_TASKS: dict[str, TaskEntry] = {}
_MODELS: dict[str, ModelEntry] = {}
_BUILTINS_LOADED = False


def register_task(name: str) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        if name in _TASKS:
            raise BenchError(f"task {name!r} is already registered (by {_TASKS[name].cls.__module__})")
        cls.name = name
        _TASKS[name] = TaskEntry(name, cls)
        return cls

    return deco


def register_model(name: str, config: type | None = None, presets: dict | None = None,
                   tasks: tuple[str, ...] | None = None, reference: bool = False) -> Callable[[type], type]:
    """Register a model class `cls(input_size, output_size, cfg)` (or `cls(input_size, output_size)`
    when it has no config dataclass). Its forward maps inputs (B, T, in) to logits (B, T, out)."""
    if config is not None and not dataclasses.is_dataclass(config):
        raise BenchError(f"model {name!r}: config must be a dataclass, got {config!r}")

    def deco(cls: type) -> type:
        if name in _MODELS:
            raise BenchError(f"model {name!r} is already registered (by {_MODELS[name].source})")
        _MODELS[name] = ModelEntry(name, cls, config, dict(presets or {}),
                                   tuple(tasks) if tasks else None, reference,
                                   source=getattr(cls, "__module__", "?"))
        cls.registry_name = name
        return cls

    return deco


def load_builtins() -> None:
    """Import the packages whose modules register the built-in tasks and models."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    for mod in ("tasks", "baselines", "ntm_bench.ntm"):
        importlib.import_module(mod)


def get_task(name: str) -> TaskEntry:
    load_builtins()
    if name not in _TASKS:
        raise BenchError(f"unknown task {name!r}; known tasks: {choices(_TASKS)}")
    return _TASKS[name]


def get_model(name: str) -> ModelEntry:
    load_builtins()
    if name not in _MODELS:
        raise BenchError(f"unknown model {name!r}; known models: {choices(_MODELS)}")
    return _MODELS[name]


def task_names() -> list[str]:
    load_builtins()
    return sorted(_TASKS)


def model_names() -> list[str]:
    load_builtins()
    return sorted(_MODELS)


def load_plugin(path: str | Path) -> list[str]:
    """Import a user's Python file that registers one or more models; return the names it added.

    Every failure (missing file, syntax error, exception on import, no model registered) is a
    BenchError that names the file.
    """
    load_builtins()
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"plugin file {str(path)!r} does not exist")
    if path.suffix != ".py":
        raise BenchError(f"plugin file {str(path)!r} is not a .py file")
    mod_name = f"ntm_bench_plugin_{path.stem}_{abs(hash(str(path.resolve()))) % 10**8}"
    if mod_name in sys.modules:  # already loaded in this process (e.g. a worker re-loading it)
        return sorted(n for n, e in _MODELS.items() if e.source == mod_name)
    before = set(_MODELS)
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except BenchError as e:
        del sys.modules[mod_name]
        raise BenchError(f"plugin {str(path)!r}: {e}") from None
    except Exception as e:  # noqa: BLE001 - any failure of user code becomes one clear line
        del sys.modules[mod_name]
        for n in set(_MODELS) - before:
            del _MODELS[n]
        raise BenchError(f"plugin {str(path)!r} failed to import: {type(e).__name__}: {e}") from None
    added = sorted(set(_MODELS) - before)
    if not added:
        raise BenchError(f"plugin {str(path)!r} registers no model "
                         f"(decorate a class with @register_model('name'))")
    return added


def reset_for_tests(snapshot: tuple[dict, dict] | None = None) -> tuple[dict, dict]:
    """Return a copy of both registries, or restore one (tests that register throwaway names)."""
    if snapshot is None:
        load_builtins()
        return dict(_TASKS), dict(_MODELS)
    _TASKS.clear(); _TASKS.update(snapshot[0])
    _MODELS.clear(); _MODELS.update(snapshot[1])
    return snapshot


def describe_model(entry: ModelEntry) -> list[tuple[str, Any, str]]:
    """(option, default, type) rows for `list` and error messages."""
    if entry.config is None:
        return []
    return [(f.name, f.default if f.default is not dataclasses.MISSING else None, str(f.type))
            for f in dataclasses.fields(entry.config)]
