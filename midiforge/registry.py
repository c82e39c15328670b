"""Plugin manager: built-in and third-party plugins go through the same pluggy ``PluginManager``.

As in simonw/llm, the built-ins are plain modules listed in ``DEFAULT_PLUGINS`` and registered with
``pm.register`` exactly like a third-party module; third-party plugins come from the ``midiforge``
entry-point group through ``pm.load_setuptools_entrypoints``. Then ``pm.check_pending()`` rejects
hooks that have no specification (a misspelled ``register_style``), and every hook is called
through pluggy (``pm.hook.register_<kind>``, one plugin at a time so a plugin that raises is
reported and skipped instead of taking midiforge down).

User controls (environment, read when the registry is first loaded):

* ``MIDIFORGE_DISABLE=name[,name]``: a plugin name (``midiforge plugins`` shows them) is not
  loaded at all; ``kind:name`` (``style:melody``) drops one registration.
* ``MIDIFORGE_PREFER=name[,name]``: registrations of these plugins win name clashes, so a
  third-party plugin can replace a built-in of the same name. Without it the first registration
  (built-ins are loaded first) is kept and the clash is reported.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as md
import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pluggy

from midiforge import hookspecs
from midiforge.errors import PluginError

#: kind -> hook that registers it
KINDS = {
    "tokenizer": "register_tokenizers",
    "model": "register_models",
    "style": "register_styles",
    "exporter": "register_exporters",
    "corpus": "register_corpora",
    "drummer": "register_drummers",
}

#: built-in plugin name -> module; registered first, like third-party plugins (llm's DEFAULT_PLUGINS)
DEFAULT_PLUGINS = {
    "tokenizers": "midiforge.plugins.tokenizers",
    "models": "midiforge.plugins.models",
    "role_styles": "midiforge.plugins.role_styles",
    "harmonic": "midiforge.plugins.harmonic",
    "corpora": "midiforge.plugins.corpora",
    "downloads": "midiforge.plugins.downloads",
    "drummers": "midiforge.plugins.drummers",
    "onnx": "midiforge.exporters.onnx",
    "coreml": "midiforge.exporters.coreml",
}

DISABLE_ENV = "MIDIFORGE_DISABLE"
PREFER_ENV = "MIDIFORGE_PREFER"
BUILTIN = "midiforge"  # the distribution of the built-ins


@dataclass(frozen=True)
class Entry:
    """One registered thing, with where it came from."""

    kind: str
    name: str
    obj: Any
    plugin: str
    distribution: str
    version: str

    @property
    def description(self) -> str:
        lines = str(getattr(self.obj, "description", "") or "").strip().splitlines()
        return lines[0] if lines else ""


@dataclass(frozen=True)
class PluginInfo:
    """A plugin module and its state: ``loaded``, ``disabled`` or ``failed``."""

    name: str
    distribution: str
    version: str
    status: str = "loaded"


@dataclass
class Problem:
    """Something wrong with a plugin; ``failed`` when (part of) it could not be used at all."""

    plugin: str
    message: str
    failed: bool = True


@dataclass
class Registry:
    entries: dict[str, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in KINDS})
    problems: list[Problem] = field(default_factory=list)
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    disabled: frozenset[str] = frozenset()  # what MIDIFORGE_DISABLE named
    notes: list[str] = field(default_factory=list)  # replacements asked for with MIDIFORGE_PREFER

    def get(self, kind: str, name: str) -> Any:
        return self.entry(kind, name).obj

    def entry(self, kind: str, name: str) -> Entry:
        try:
            return self.entries[kind][name]
        except KeyError:
            raise PluginError(self._unknown(kind, name)) from None

    def _unknown(self, kind: str, name: str) -> str:
        known = ", ".join(sorted(self.entries[kind])) or "none"
        message = f"unknown {kind} '{name}' (available: {known})"
        if f"{kind}:{name}" in self.disabled:
            return f"{kind} '{name}' is disabled by {DISABLE_ENV} (available: {known})"
        failed = [p for p in self.problems if p.failed]
        if failed:
            message += "; " + "; ".join(f"plugin '{p.plugin}' {p.message}" for p in failed)
        off = [p.name for p in self.plugins.values() if p.status == "disabled"]
        if off:
            message += f"; disabled plugins: {', '.join(off)}"
        return message

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def objects(self, kind: str) -> list[Any]:
        """Registered objects of ``kind`` in registration order (built-ins first)."""
        return [e.obj for e in self.entries[kind].values()]

    def all_entries(self) -> list[Entry]:
        return [e for kind in KINDS for e in sorted(self.entries[kind].values(), key=lambda e: e.name)]

    def add(self, entry: Entry, preferred: set[str]) -> None:
        """Record ``entry``; on a clash keep the existing one unless the new plugin is preferred."""
        if f"{entry.kind}:{entry.name}" in self.disabled:
            return
        existing = self.entries[entry.kind].get(entry.name)
        if existing is not None:
            if entry.plugin in preferred and existing.plugin not in preferred:
                self.notes.append(
                    f"{entry.kind} '{entry.name}' of plugin '{entry.plugin}' replaces the one of plugin "
                    f"'{existing.plugin}' ({PREFER_ENV})"
                )
            else:
                self.problems.append(Problem(
                    entry.plugin,
                    f"{entry.kind} '{entry.name}' clashes with the one of plugin '{existing.plugin}' "
                    f"({existing.distribution}); keeping that one (set {PREFER_ENV}={entry.plugin} to prefer "
                    "this one)",
                    failed=False,
                ))
                return
        self.entries[entry.kind][entry.name] = entry


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _names(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def _register(pm: pluggy.PluginManager, reg: Registry, name: str, plugin: Any) -> bool:
    try:
        pm.register(plugin, name=name)
    except Exception as exc:  # pluggy's PluginValidationError: a hookimpl with wrong arguments
        reg.problems.append(Problem(name, f"was not loaded: {_one_line(exc)}"))
        return False
    return True


def _load_defaults(pm: pluggy.PluginManager, reg: Registry) -> None:
    from midiforge import __version__

    for name, module in DEFAULT_PLUGINS.items():
        if pm.is_blocked(name):
            reg.plugins[name] = PluginInfo(name, BUILTIN, __version__, "disabled")
            continue
        reg.plugins[name] = PluginInfo(name, BUILTIN, __version__)
        try:
            plugin = importlib.import_module(module)
        except Exception as exc:
            reg.problems.append(Problem(name, f"failed to load ({module}): {_one_line(exc)}"))
            continue
        _register(pm, reg, name, plugin)


def _load_entry_points(pm: pluggy.PluginManager, reg: Registry) -> None:
    """Third-party plugins, one entry point at a time so one broken plugin cannot hide the rest."""
    for ep in sorted(md.entry_points(group=hookspecs.PROJECT), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist else "unknown"
        version = ep.dist.version if ep.dist else "?"
        known = reg.plugins.get(ep.name)
        if known is not None:
            if known.distribution != dist:  # not just the same distribution seen twice on sys.path
                reg.problems.append(Problem(
                    dist, f"entry point '{ep.name}' was not loaded: a plugin of {known.distribution} "
                    "already has that name",
                ))
            continue
        if pm.is_blocked(ep.name):
            reg.plugins[ep.name] = PluginInfo(ep.name, dist, version, "disabled")
            continue
        reg.plugins[ep.name] = PluginInfo(ep.name, dist, version)
        try:
            pm.load_setuptools_entrypoints(hookspecs.PROJECT, name=ep.name)
        except Exception as exc:
            reg.problems.append(Problem(ep.name, f"failed to load ({ep.value}): {_one_line(exc)}"))
    for plugin, info in pm.list_plugin_distinfo():
        name = pm.get_name(plugin)
        if name in reg.plugins:
            reg.plugins[name] = PluginInfo(name, info.project_name, info.version)


def _drop(pm: pluggy.PluginManager, reg: Registry, plugin: Any, why: str) -> None:
    name = pm.get_name(plugin)
    reg.problems.append(Problem(name, f"was not loaded: {why}"))
    pm.unregister(plugin)


def _check_hooks(pm: pluggy.PluginManager, reg: Registry) -> None:
    """Report hooks pluggy would not call: unknown names (``check_pending``) and missing markers."""
    hooks = list(KINDS.values())
    while True:
        try:
            pm.check_pending()
            break
        except pluggy.PluginValidationError as exc:
            plugin = exc.plugin
            unknown = [
                attr for attr in dir(plugin)
                if attr not in hooks and pm.parse_hookimpl_opts(plugin, attr) is not None
            ]
            hints = [
                f"unknown hook '{a}'" + "".join(f" (did you mean '{m}'?)" for m in difflib.get_close_matches(a, hooks, 1))
                for a in unknown
            ]
            _drop(pm, reg, plugin, "; ".join(hints) or _one_line(exc))
    for plugin in pm.get_plugins():
        name = pm.get_name(plugin)
        for attr in dir(plugin):
            if not attr.startswith("register_") or pm.parse_hookimpl_opts(plugin, attr) is not None:
                continue
            if not callable(getattr(plugin, attr, None)):
                continue
            if attr in hooks:
                reg.problems.append(Problem(
                    name, f"{attr} is not marked with @midiforge.hookimpl, so it is never called"
                ))
            elif difflib.get_close_matches(attr, hooks, 1):
                match = difflib.get_close_matches(attr, hooks, 1)[0]
                reg.problems.append(Problem(
                    name, f"{attr} is not a hook (did you mean '{match}' with @midiforge.hookimpl?)"
                ))


def _collect(pm: pluggy.PluginManager, reg: Registry, name: str, preferred: set[str]) -> None:
    """Call each hook of plugin ``name`` through pluggy, recording what it registers."""
    plugin = pm.get_plugin(name)
    info = reg.plugins[name]
    others = [p for p in pm.get_plugins() if p is not plugin]
    for kind, hook_name in KINDS.items():
        hook = pm.subset_hook_caller(hook_name, remove_plugins=others)
        if not hook.get_hookimpls():
            continue

        def register(obj: Any, _kind: str = kind) -> None:
            obj_name = getattr(obj, "name", None)
            if not obj_name:
                reg.problems.append(Problem(name, f"registered a {_kind} without a name", failed=False))
                return
            reg.add(Entry(_kind, str(obj_name), obj, name, info.distribution, info.version), preferred)

        try:
            hook(register=register)
        except Exception as exc:  # a broken plugin never takes midiforge down
            reg.problems.append(Problem(name, f"{hook_name} failed: {_one_line(exc)}"))


def load_registry(
    extra_plugins: dict[str, Any] | None = None,
    disable: set[str] | None = None,
    prefer: set[str] | None = None,
) -> Registry:
    """Load the built-ins, every plugin of the ``midiforge`` entry-point group, then
    ``extra_plugins`` (name -> module or object, for in-process use and tests).

    ``disable`` and ``prefer`` default to ``MIDIFORGE_DISABLE`` and ``MIDIFORGE_PREFER``."""
    disable = _names(os.environ.get(DISABLE_ENV)) if disable is None else set(disable)
    preferred = _names(os.environ.get(PREFER_ENV)) if prefer is None else set(prefer)
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    reg = Registry(disabled=frozenset(disable))
    for name in disable:
        if ":" not in name:
            pm.set_blocked(name)
    _load_defaults(pm, reg)
    _load_entry_points(pm, reg)
    for name, plugin in (extra_plugins or {}).items():
        status = "disabled" if pm.is_blocked(name) else "loaded"
        reg.plugins[name] = PluginInfo(name, "(in-process)", "", status)
        if status == "loaded":
            _register(pm, reg, name, plugin)
    _check_hooks(pm, reg)
    loaded = [pm.get_name(p) for p in pm.get_plugins()]
    order = [n for n in reg.plugins if n in loaded]  # built-ins, entry points, in-process
    for name in order:
        _collect(pm, reg, name, preferred)
    for name, info in reg.plugins.items():
        if info.status == "loaded" and name not in loaded:
            reg.plugins[name] = PluginInfo(name, info.distribution, info.version, "failed")
    return reg


@lru_cache(maxsize=1)
def registry() -> Registry:
    """The process-wide registry (loaded once)."""
    return load_registry()


def get(kind: str, name: str) -> Any:
    return registry().get(kind, name)
