"""Builds the plugin manager and collects the provider factories it registers."""

from __future__ import annotations

import pluggy

from universal_ai_tools.errors import UAITError
from universal_ai_tools.llm import hookspecs
from universal_ai_tools.llm.providers import embedded, ollama, openai
from universal_ai_tools.llm.providers.base import ProviderFactory

DEFAULT_PLUGINS = (embedded, ollama, openai)


class DuplicateProviderKind(UAITError):
    pass


def build_plugin_manager(*, load_entry_points: bool = True) -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for plugin in DEFAULT_PLUGINS:
        manager.register(plugin)
    if load_entry_points:
        manager.load_setuptools_entrypoints(hookspecs.PROJECT)
    return manager


def provider_factories(manager: pluggy.PluginManager) -> dict[str, ProviderFactory]:
    factories: dict[str, ProviderFactory] = {}

    def register(kind: str, factory: ProviderFactory) -> None:
        if kind in factories:
            raise DuplicateProviderKind(f"two plugins register the provider kind {kind!r}")
        factories[kind] = factory

    manager.hook.register_providers(register=register)
    return factories
