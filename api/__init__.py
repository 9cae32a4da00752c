"""pydantic models of every WWS resource: the single source of truth for the API.

Modules (each imports only pydantic, the standard library and its siblings):

- ``meta``: the API group/version, base models, ``ObjectMeta``, ``Condition``, ``Provider``;
- ``formats``: the string formats (names, quantities, durations, images, logins) and their
  RE2-compatible patterns; ``units``: quantities and durations as numbers;
- ``organization``, ``team``, ``workspace``: one kind each (spec, status, the whole object);
- ``languages``: the registry of languages a workspace can ask for, one module per language;
- ``resources``: every kind, for tools that handle them all (``wws crds generate``).

Parse what the API server returns with ``workspace.Workspace.model_validate(obj)`` (a whole
object) or ``workspace.WorkspaceSpec.model_validate(obj["spec"])``; write status with
``status.to_dict()`` (camelCase keys, unset fields left out). ``crds/`` and ``docs/api.md``
are generated from these models by ``wws crds generate``.
"""
