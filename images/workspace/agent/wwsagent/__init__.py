"""wws-agent: makes a WWS workspace its owner's, at every boot, and reports how that went.

It is provider-independent: a container's init (``wws-init``, boot hook ``50-wws-agent``)
and a virtual machine's init start it alike. Its only inputs and outputs are two folders
(the contract, docs/workspace-agent.md):

    /run/wws/config/workspace.json          what to do (owner, shell, git, dotfiles, ...)
    /run/wws/config/secrets/...             code-server-password, github-token (optional)
    /run/wws/status/report.json             conditions and languages, written atomically

and the persistent home volume at /home: the owner's home /home/<owner> and the
root-owned /home/.wws/ (SSH host keys, once-per-home markers, agent log, apt cache).

Every boot, in this order:
  UserReady       user <owner> (uid/gid 1000), login shell, passwordless sudo, git identity,
                  gh logged in with the token (gh is git's credential helper for github.com)
  SSHReady        sshd (password login off) with the host keys kept in /home/.wws
  EditorReady     code-server on 0.0.0.0:8080 with the password from the secret
and then, in the background, so the workspace is usable at once:
  DotfilesReady   yadm clone + yadm bootstrap, once per home (per repository), time-limited
  LanguagesReady  images' languages/<name>.sh installers, once per home (per version)
  BootstrapReady  spec.bootstrap.script as the owner, once per home and again when it changes

A failure of one step is reported (status False, a reason, a message naming the log) and
never stops the workspace. The agent then watches the config folder (about once a second,
or at once on SIGHUP) and applies changes while it runs: keys, token, password, git
identity, shell, a new bootstrap script, new languages, a new dotfiles repository.

Secrets (the token, the password) never go to a log, the report or a command line.
Standard library only (the image's Python 3), as a package beside the script
``wws_agent.py`` that the image runs; one module per job:

    settings        paths, ports, timeouts
    configuration   the config folder's snapshot
    reporting       report.json and ``wws-agent status``
    owner           the owner's user and home (UserReady)
    services        sshd and code-server (SSHReady, EditorReady)
    steps/          dotfiles, languages, bootstrap (the background steps)
    worker          runs the background steps
    agent           the main loop
    logs, files, processes, errors   the small helpers they share
"""
