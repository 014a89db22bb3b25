"""Plugin hooks (pluggy). A plugin is a module or object with `@hookimpl` functions.

Third-party plugins are found through the `universal_ai_tools` entry-point group.
"""

from __future__ import annotations

import pluggy

from universal_ai_tools.llm.providers.base import RegisterProvider

PROJECT = "universal_ai_tools"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_providers(register: RegisterProvider) -> None:
    """Call `register(kind, factory)` for each backend kind this plugin provides."""
