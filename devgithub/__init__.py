"""A GitHub stand-in: the few GitHub endpoints WWS uses, served from a YAML file.

WWS's tests, and a newcomer trying WWS offline, run it instead of github.com: OAuth sign-in
(authorize page and token exchange), ``/user``, ``/user/emails``, ``/user/orgs``,
``/users/{login}/keys``, organization and team membership, with GitHub's pagination ``Link``
headers, ``x-ratelimit-*`` headers and ETags (``If-None-Match`` → 304). See
``docs/dev-github.md``.

Modules: :mod:`devgithub.directory` (the people, organizations and teams of the YAML file),
:mod:`devgithub.responses` (pagination, ETags, rate limits), :mod:`devgithub.oauth`,
:mod:`devgithub.rest` (the REST API), :mod:`devgithub.admin` (run-time changes for tests),
:mod:`devgithub.app` (the Starlette app), :mod:`devgithub.server` (``wws dev github``).
"""
