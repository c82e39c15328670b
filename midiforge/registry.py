"""Plugin manager: loads built-in and third-party plugins through the same entry-point group.

A plugin that fails to import is reported (name, error) and skipped; a name registered twice
for the same kind is reported as a clash and the first registration is kept.
"""

from __future__ import annotations

import importlib.metadata as md
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


@dataclass
class Problem:
    plugin: str
    message: str


@dataclass
class Registry:
    entries: dict[str, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in KINDS})
    problems: list[Problem] = field(default_factory=list)
    plugins: dict[str, tuple[str, str]] = field(default_factory=dict)  # plugin -> (dist, version)

    def get(self, kind: str, name: str) -> Any:
        try:
            return self.entries[kind][name].obj
        except KeyError:
            known = ", ".join(sorted(self.entries[kind])) or "none"
            # the name may belong to a plugin that failed to load: say which, and why
            broken = "; ".join(f"plugin {p.plugin} {p.message}" for p in self.problems)
            hint = f"; {len(self.problems)} plugin problem(s): {broken}" if broken else ""
            raise PluginError(f"unknown {kind} '{name}' (available: {known}){hint}") from None

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def all_entries(self) -> list[Entry]:
        return [e for kind in KINDS for e in sorted(self.entries[kind].values(), key=lambda e: e.name)]


def _collect(registry: Registry, pm: pluggy.PluginManager, plugin_name: str, module: Any) -> None:
    dist, version = registry.plugins[plugin_name]
    for kind, hook_name in KINDS.items():
        impl = getattr(module, hook_name, None)
        if impl is None:
            continue

        def register(obj: Any, _kind: str = kind) -> None:
            name = getattr(obj, "name", None)
            if not name:
                registry.problems.append(Problem(plugin_name, f"registered a {_kind} without a name"))
                return
            existing = registry.entries[_kind].get(name)
            if existing is not None:
                registry.problems.append(
                    Problem(
                        plugin_name,
                        f"{_kind} '{name}' clashes with the one from plugin '{existing.plugin}' "
                        f"({existing.distribution}); keeping the first",
                    )
                )
                return
            registry.entries[_kind][name] = Entry(_kind, name, obj, plugin_name, dist, version)

        try:
            impl(register=register)
        except Exception as exc:  # a broken plugin never takes midiforge down
            registry.problems.append(Problem(plugin_name, f"{hook_name} failed: {type(exc).__name__}: {exc}"))


def load_registry(extra_plugins: dict[str, Any] | None = None) -> Registry:
    """Load every plugin of the ``midiforge`` entry-point group (built-ins included)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    modules: list[tuple[str, Any]] = []
    seen: set[str] = set()
    for ep in sorted(md.entry_points(group=hookspecs.PROJECT), key=lambda e: (e.dist.name if e.dist else "", e.name)):
        dist = ep.dist.name if ep.dist else "unknown"
        version = ep.dist.version if ep.dist else "?"
        key = f"{dist}:{ep.name}"
        if key in seen:  # the same distribution seen twice on sys.path
            continue
        seen.add(key)
        plugin_name = ep.name if dist == "midiforge" else f"{dist}:{ep.name}"
        registry.plugins[plugin_name] = (dist, version)
        try:
            module = ep.load()
            pm.register(module, name=plugin_name)
        except Exception as exc:
            registry.problems.append(Problem(plugin_name, f"failed to load ({ep.value}): {type(exc).__name__}: {exc}"))
            continue
        modules.append((plugin_name, module))
    for plugin_name, module in (extra_plugins or {}).items():
        registry.plugins[plugin_name] = ("(in-process)", "")
        pm.register(module, name=plugin_name)
        modules.append((plugin_name, module))
    # Built-ins first so a third-party name clash never silently replaces a built-in.
    modules.sort(key=lambda m: registry.plugins[m[0]][0] != "midiforge")
    for plugin_name, module in modules:
        _collect(registry, pm, plugin_name, module)
    return registry


@lru_cache(maxsize=1)
def registry() -> Registry:
    """The process-wide registry (loaded once)."""
    return load_registry()


def get(kind: str, name: str) -> Any:
    return registry().get(kind, name)
