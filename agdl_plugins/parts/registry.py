"""The plugin manager and the registry of codec parts, keyed by (kind, id, version)."""

from __future__ import annotations

import threading
from typing import Any, Literal, overload

import pluggy

from agdl_plugins.errors import MissingPartError, UnknownPartError
from agdl_plugins.parts import hookspecs
from agdl_plugins.parts.protocols import BaseCodec, Kind, Predictor, Restorer, Sensing, check_part

ENTRY_POINT_GROUP = "agdl.plugins"
KINDS = ("base_codec", "predictor", "restorer", "sensing")


class Registry:
    """Holds every registered part, by kind: :class:`~agdl_plugins.parts.protocols.BaseCodec`,
    :class:`~agdl_plugins.parts.protocols.Predictor`, :class:`~agdl_plugins.parts.protocols.Restorer`,
    :class:`~agdl_plugins.parts.protocols.Sensing` (each has ``id: str`` and ``version: int``)."""

    def __init__(self) -> None:
        self._parts: dict[str, dict[tuple[str, int], Any]] = {k: {} for k in KINDS}
        self._defaults: dict[tuple[str, str], int] = {}

    def _add(self, kind: Kind, part: Any) -> None:
        check_part(kind, part)
        key = (str(part.id), int(part.version))
        if key in self._parts[kind] and self._parts[kind][key] is not part:
            raise ValueError(f"{kind} part {key[0]!r} v{key[1]} registered twice")
        self._parts[kind][key] = part

    def add_base_codec(self, part: BaseCodec) -> None:
        """Register a base codec. Raises PartInterfaceError (a ``TypeError``) when it lacks a member."""
        self._add("base_codec", part)

    def add_predictor(self, part: Predictor) -> None:
        """Register a predictor. Raises PartInterfaceError (a ``TypeError``) when it lacks a member."""
        self._add("predictor", part)

    def add_restorer(self, part: Restorer) -> None:
        """Register a restorer. Raises PartInterfaceError (a ``TypeError``) when it lacks a member."""
        self._add("restorer", part)

    def add_sensing(self, part: Sensing) -> None:
        """Register a sensing part. Raises PartInterfaceError (a ``TypeError``) when it lacks a member."""
        self._add("sensing", part)

    def set_default(self, kind: Kind, part_id: str, version: int) -> None:
        """Make ``version`` (registered) what :meth:`get` returns for ``part_id`` without a version, instead of
        the latest one: a newer version can then be registered (so files naming it decode) without becoming
        the default.

        Raises:
            MissingPartError: that version is not registered.
        """
        if (part_id, version) not in self._parts[kind]:
            raise MissingPartError(kind.replace("_", " "), part_id, version, self.names(kind))
        self._defaults[(kind, part_id)] = int(version)

    @overload
    def get(self, kind: Literal["base_codec"], part_id: str, version: int | None = None) -> BaseCodec: ...
    @overload
    def get(self, kind: Literal["predictor"], part_id: str, version: int | None = None) -> Predictor: ...
    @overload
    def get(self, kind: Literal["restorer"], part_id: str, version: int | None = None) -> Restorer: ...
    @overload
    def get(self, kind: Literal["sensing"], part_id: str, version: int | None = None) -> Sensing: ...

    def get(self, kind: Kind, part_id: str, version: int | None = None) -> Any:
        """Part by id and version (without ``version``: the one set by :meth:`set_default`, else the latest).

        Raises:
            MissingPartError: nothing registered under that id/version.
        """
        parts = self._parts[kind]
        if version is None:
            versions = [v for (i, v) in parts if i == part_id]
            if not versions:
                raise MissingPartError(kind.replace("_", " "), part_id, 0, self.names(kind))
            version = self._defaults.get((kind, part_id), max(versions))
        try:
            return parts[(part_id, version)]
        except KeyError:
            raise MissingPartError(kind.replace("_", " "), part_id, version, self.names(kind)) from None

    def names(self, kind: str) -> list[str]:
        return sorted(f"{i}@{v}" for (i, v) in self._parts[kind])

    def has(self, kind: str, part_id: str) -> bool:
        return any(i == part_id for (i, _) in self._parts[kind])

    def ids(self, kind: str) -> list[str]:
        """The part ids registered for ``kind`` (each once, whatever its versions)."""
        return sorted({i for (i, _) in self._parts[kind]})

    def require(self, kind: str, part_id: str, option: str) -> None:
        """Encoder-side check of an option naming a part.

        Raises:
            UnknownPartError: (a ``ValueError``) nothing is registered under ``part_id``.
        """
        if not self.has(kind, part_id):
            raise UnknownPartError(option, part_id, self.ids(kind))


_lock = threading.Lock()
_manager: pluggy.PluginManager | None = None
_registry: Registry | None = None


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager: built-ins plus ``agdl.plugins`` entry points."""
    global _manager
    with _lock:
        if _manager is None:
            pm = pluggy.PluginManager(hookspecs.PROJECT)
            pm.add_hookspecs(hookspecs)
            from agdl_plugins.parts import builtin

            pm.register(builtin, name="agdl-builtin")
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
            _manager = pm
        return _manager


def get_registry() -> Registry:
    """The registry filled by every registered plugin (built once, then cached)."""
    global _registry
    pm = get_plugin_manager()
    with _lock:
        if _registry is None:
            reg = Registry()
            pm.hook.agdl_register_parts(registry=reg)
            _registry = reg
        return _registry


def reset_registry() -> None:
    """Forget the cached registry (after registering a plugin at run time)."""
    global _registry
    with _lock:
        _registry = None


def register_plugin(plugin: object, name: str | None = None) -> None:
    """Register a plugin object/module implementing ``agdl_register_parts`` at run time."""
    pm = get_plugin_manager()
    if name is None or pm.get_plugin(name) is None:
        pm.register(plugin, name=name)
    reset_registry()


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered with :func:`register_plugin` under ``name``."""
    pm = get_plugin_manager()
    if pm.get_plugin(name) is not None:
        pm.unregister(name=name)
    reset_registry()
