"""Run an Argo CD health script the way Argo CD's application controller runs it.

Fed by: the tests in this folder, with a ``health.lua`` and a Kubernetes object read from a
testdata YAML file. Feeds: the health status and message the script returns.

Argo CD runs health scripts in gopher-lua (Lua 5.1). The object arrives as Argo CD's
``decodeValue`` builds it from the JSON-like object: maps become tables, lists become arrays
indexed from 1, numbers become Lua numbers, null becomes nil. A script configured in argocd-cm
gets the base, table, package and (a safe) os library, and ``string``/``math`` only with
``resource.customizations.useOpenLibs``: the sandbox here removes them, including the string
metatable behind ``("x"):upper()``, so a script that needs them fails here as it would there.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

import yaml
from lupa import lua51

#: The statuses Argo CD accepts from a script; anything else becomes Unknown.
HEALTH_STATUSES = frozenset(
    {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
)

#: What a script that fails raises (Argo CD shows the error in place of a health status).
LuaError = lua51.LuaError

_SANDBOX = """
debug.setmetatable("", nil)
string, math, io, debug, coroutine, python = nil, nil, nil, nil, nil, nil
"""


class _ObjectLoader(yaml.SafeLoader):
    """YAML as sigs.k8s.io/yaml reads it: timestamps stay strings (it goes through JSON)."""


_ObjectLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclasses.dataclass(frozen=True)
class Health:
    """What Argo CD shows: a status, and a message that is empty when the script sets none."""

    status: str
    message: str = ""


def load_object(path: pathlib.Path) -> Any:
    """The object in a testdata file, with the value types Argo CD would decode."""
    return yaml.load(path.read_text(), Loader=_ObjectLoader)


def _to_lua(runtime: Any, value: Any) -> Any:
    match value:
        case dict():
            return runtime.table_from({key: _to_lua(runtime, item) for key, item in value.items()})
        case list():
            return runtime.table_from([_to_lua(runtime, item) for item in value])
        case bool() | int() | float() | str() | None:
            return value
        case _:
            raise TypeError(f"no JSON equivalent for {type(value).__name__}: {value!r}")


def run_health(script: str, obj: Any) -> Health:
    """The health the script reports for ``obj``, in a fresh sandboxed Lua 5.1 state."""
    runtime = lua51.LuaRuntime(register_eval=False, register_builtins=False)
    runtime.execute(_SANDBOX)
    runtime.globals().obj = _to_lua(runtime, obj)
    result = runtime.execute(script)
    status = result["status"]
    message = result["message"]
    return Health(status=status, message="" if message is None else message)
