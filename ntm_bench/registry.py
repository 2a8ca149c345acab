"""Registries of tasks and models: small, strict, helpful.

A task or model registers under a name; registering a name twice is an error, and an unknown
name fails with the list of known names. The harness looks everything up here and never
branches on a name. A class is checked against the contract when it registers (ntm_bench.contract).
A user's tasks and models live in files of their own, loaded with `load_plugin`; each entry
remembers the plugin file and the SHA-256 of the source that registered it (part of a run's identity).

What the harness needs beyond the contract, a model declares when it registers, never by its name:
`prepare(device)`, called once before runs on that device start (e.g. to build kernels, so no timed
run pays for it); `speed`, its rows in `python run_bench.py speed` (`SpeedRow`); `retired`, options
it no longer takes but still reads from older suites and records.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ntm_bench.errors import BenchError, choices


@dataclass(frozen=True)
class TaskEntry:
    name: str
    cls: type
    source: str = ""  # module or plugin module it came from
    plugin: str | None = None  # the plugin file (absolute path) that registered it, None for a built-in
    plugin_sha256: str | None = None  # SHA-256 of that file's source as it was loaded


@dataclass(frozen=True)
class SpeedRow:
    """One row of `python run_bench.py speed` (ntm_bench/speed.py), declared by a model when it registers."""
    name: str  # the row's name, unique over all models' rows
    options: dict = field(default_factory=dict)  # model options (after the preset's)
    preset: tuple[str, str] | None = None  # (preset, task): start from that preset's options for that task
    env: dict = field(default_factory=dict)  # environment variables (runtime settings) of the measurement
    baseline: str | None = None  # another row: speed gives this row's rates over that row's
    headline: bool = False  # the row compared with a bare nn.LSTM (`<name>_to_nn_lstm_ratio`)
    solve: bool = False  # also time the `quick` suite's recipe for this model solving copy
    note: str = ""  # what the row is, for the table's legend


@dataclass(frozen=True)
class ModelEntry:
    name: str
    cls: type
    config: type | None  # frozen dataclass of the model's options, or None (no options)
    presets: dict = field(default_factory=dict)  # preset -> task -> {"options": {...}, "train": {...}}
    tasks: tuple[str, ...] | None = None  # tasks the model can run (None: all)
    reference: bool = False  # a non-neural reference row (e.g. the optimal N-gram predictor)
    source: str = ""  # module or plugin module it came from
    plugin: str | None = None  # the plugin file (absolute path) that registered it, None for a built-in
    plugin_sha256: str | None = None  # SHA-256 of that file's source as it was loaded
    # Whether the model's output at step t reads only inputs up to t: True (every configuration; a
    # recurrent model), False (never), or the name of the boolean option that says so (the
    # Transformer's "causal"). A model that sees later inputs cannot run where a later input reveals
    # an earlier target (Task.noncausal_leak); the harness checks this before any run starts.
    causal: bool | str = True
    prepare: Callable[[str], None] | None = None  # prepare(device) before runs on that device start
    speed: tuple = ()  # SpeedRow, ...
    retired: tuple | None = None  # (dataclass of retired options, fn(its instance) -> constructor kwargs)

    def is_causal(self, cfg) -> bool:
        """Whether the model, with options `cfg` (make_config), reads only past and present inputs."""
        return bool(getattr(cfg, self.causal)) if isinstance(self.causal, str) else self.causal

    def make_config(self, options: dict | None = None):
        """Build the config dataclass from a dict, strictly (unknown keys and bad types are errors).
        Retired options are checked and set aside (`runtime_kwargs` reads them)."""
        from ntm_bench.config import build_dataclass

        options, retired = self._split(options)
        if retired:
            self._retired_config(retired)
        if self.config is None:
            if options:
                raise BenchError(f"model {self.name!r} takes no options, got: {choices(options)}")
            return None
        return build_dataclass(self.config, options, where=f"model {self.name!r} option")

    def runtime_kwargs(self, options: dict | None = None) -> dict:
        """The constructor's keyword arguments that retired options in `options` ask for ({} if none)."""
        _, retired = self._split(options)
        return self.retired[1](self._retired_config(retired)) if retired else {}

    def option_types(self) -> dict:
        """{option: type} of every option the model reads, retired ones included (for sweeps)."""
        types_ = typing.get_type_hints(self.config) if self.config else {}
        return {**types_, **(typing.get_type_hints(self.retired[0]) if self.retired else {})}

    def _split(self, options) -> tuple[dict, dict]:
        options = dict(options or {})
        names = {f.name for f in dataclasses.fields(self.retired[0])} if self.retired else set()
        return ({k: v for k, v in options.items() if k not in names},
                {k: v for k, v in options.items() if k in names})

    def _retired_config(self, retired: dict):
        from ntm_bench.config import build_dataclass

        for key in sorted(set(retired)):
            if (self.name, key) in _NOTED:
                continue
            _NOTED.add((self.name, key))
            print(f"note: model {self.name!r} option {key!r} is retired: {getattr(self.retired[0], 'note', '')} "
                  f"It is read as the runtime setting it stands for, and kept in the run's options (its run "
                  f"id and config hash stay as recorded).", file=sys.stderr)
        return build_dataclass(self.retired[0], retired, where=f"model {self.name!r} option")

    def build(self, input_size: int, output_size: int, options: dict | None = None):
        cfg = self.make_config(options)
        if self.config is None:
            return self.cls(input_size, output_size)
        return self.cls(input_size, output_size, cfg, **self.runtime_kwargs(options))


_TASKS: dict[str, TaskEntry] = {}
_MODELS: dict[str, ModelEntry] = {}
_BUILTINS_LOADED = False
_LOADING: dict = {}  # the plugin being imported: {"path": ..., "sha256": ...}, empty otherwise
_PLUGINS: dict[str, tuple[str, str]] = {}  # resolved path -> (module name, sha256) of plugins loaded
_NOTED: set = set()  # retired options already explained on stderr in this process


def _source(cls) -> str:
    """Where a class is registered from: the plugin file being loaded, else the class's module."""
    return _LOADING.get("path") or getattr(cls, "__module__", "?")


def register_task(name: str) -> Callable[[type], type]:
    """Register a task class: a frozen dataclass derived from `Task` (tasks/base.py; README, "Adding a task")."""
    def deco(cls: type) -> type:
        if name in _TASKS:
            raise BenchError(f"task {name!r} is already registered (by {_TASKS[name].source})")
        from ntm_bench.contract import check_task_class

        check_task_class(name, cls)
        cls.name = name
        _TASKS[name] = TaskEntry(name, cls, _source(cls), _LOADING.get("path"), _LOADING.get("sha256"))
        return cls

    return deco


def register_model(name: str, config: type | None = None, presets: dict | None = None,
                   tasks: tuple[str, ...] | None = None, reference: bool = False,
                   causal: bool | str = True, prepare: Callable[[str], None] | None = None, speed=(),
                   retired: tuple | None = None) -> Callable[[type], type]:
    """Register a model class `cls(input_size, output_size, cfg)` (or `cls(input_size, output_size)`
    when it has no config dataclass). Its forward maps inputs (B, T, in) to logits (B, T, out).

    causal (ModelEntry.causal): True if its output at step t never reads a later input, False if it
    does, or the name of the boolean option of `config` that says which. prepare(device): called
    once per command before its runs on `device` start (in the main process; e.g. build kernels
    that the workers then only load). speed: `SpeedRow`s for `speed`. retired: (a dataclass of
    options the model no longer takes, fn(instance) -> extra constructor kwargs)."""
    if config is not None and not dataclasses.is_dataclass(config):
        raise BenchError(f"model {name!r}: config must be a dataclass, got {config!r}")
    if isinstance(causal, str):
        if config is None or causal not in {f.name for f in dataclasses.fields(config)}:
            raise BenchError(f"model {name!r}: causal={causal!r} names no option of its config; give True, "
                             f"False or the name of a boolean option")
    elif not isinstance(causal, bool):
        raise BenchError(f"model {name!r}: causal must be True, False or the name of a boolean option, "
                         f"got {causal!r}")
    if prepare is not None and not callable(prepare):
        raise BenchError(f"model {name!r}: prepare must be a function prepare(device), got {prepare!r}")
    if any(not isinstance(r, SpeedRow) for r in speed):
        raise BenchError(f"model {name!r}: speed must list SpeedRow(...) entries, got {speed!r}")
    if retired is not None and not (len(retired) == 2 and dataclasses.is_dataclass(retired[0]) and callable(retired[1])):
        raise BenchError(f"model {name!r}: retired must be (dataclass, function), got {retired!r}")

    def deco(cls: type) -> type:
        if name in _MODELS:
            raise BenchError(f"model {name!r} is already registered (by {_MODELS[name].source})")
        from ntm_bench.contract import check_model_class

        check_model_class(name, cls, config, presets if presets is not None else {})
        _MODELS[name] = ModelEntry(name, cls, config, dict(presets or {}),
                                   tuple(tasks) if tasks else None, reference,
                                   _source(cls), _LOADING.get("path"), _LOADING.get("sha256"), causal,
                                   prepare, tuple(speed), retired)
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
    """Import a user's Python file that registers tasks, models or both; return the names it added.

    A file loads once per process; loading it again returns the same names, unless its source has
    changed since, when its old entries are dropped and the new source is loaded. Every failure
    (missing file, syntax error, exception on import, a class that breaks the contract, nothing
    registered) is a BenchError that names the file.
    """
    load_builtins()
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"plugin file {str(path)!r} does not exist")
    if path.suffix != ".py":
        raise BenchError(f"plugin file {str(path)!r} is not a .py file")
    resolved = str(path.resolve())
    try:
        code = path.read_bytes()
    except OSError as e:
        raise BenchError(f"plugin file {str(path)!r} is unreadable: {e.strerror}") from None
    sha = hashlib.sha256(code).hexdigest()
    loaded = _PLUGINS.get(resolved)
    if loaded is not None:
        names = _names_from(resolved)
        if loaded[1] == sha and names:
            return names
        _forget(resolved)  # edited since it was loaded (or its entries were dropped): load it anew
    mod_name = f"ntm_bench_plugin_{path.stem}_{sha[:12]}"
    module = types.ModuleType(mod_name)
    module.__file__ = resolved
    sys.modules[mod_name] = module
    _LOADING.update(path=resolved, sha256=sha)
    try:
        exec(compile(code, resolved, "exec"), module.__dict__)  # the very bytes that were hashed
    except BenchError as e:
        _forget(resolved, mod_name)
        raise BenchError(f"plugin {str(path)!r}: {e}") from None
    except Exception as e:  # noqa: BLE001 - any failure of user code becomes one clear line
        _forget(resolved, mod_name)
        raise BenchError(f"plugin {str(path)!r} failed to import: {type(e).__name__}: {e}") from None
    finally:
        _LOADING.clear()
    added = _names_from(resolved)
    if not added:
        _forget(resolved, mod_name)
        raise BenchError(f"plugin {str(path)!r} registers no task or model (decorate a class with "
                         f"@register_task('name') or @register_model('name'))")
    _PLUGINS[resolved] = (mod_name, sha)
    return added


def _names_from(path: str) -> list[str]:
    """The task and model names the plugin file at `path` (resolved) registered."""
    return sorted({n for table in (_TASKS, _MODELS) for n, e in table.items() if e.plugin == path})


def _forget(path: str, mod_name: str | None = None) -> None:
    """Drop a plugin file's module and everything it registered."""
    for table in (_TASKS, _MODELS):
        for n in [n for n, e in table.items() if e.plugin == path]:
            del table[n]
    loaded = _PLUGINS.pop(path, None)
    for name in {mod_name, loaded and loaded[0]} - {None}:
        sys.modules.pop(name, None)


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
