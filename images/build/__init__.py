"""The image builder (``wws image build``): the default workspace image from Debian and npm
packages, no container registry needed.

The recipe is the folder ``images/workspace/``:

- ``packages.txt``: Debian packages on top of debootstrap's ``minbase``;
- ``init/``: the provider-independent init, installed as ``/usr/local/sbin/wws-init``;
- ``agent/``, ``languages/``, ``boot.d/``: the in-workspace agent, its language installers
  and the init's boot hooks, installed under ``/usr/local/lib/wws/``
  (docs/workspace-agent.md);
- ``artifacts/<name>/``: things built in a throwaway root of their own and unpacked into
  the image, e.g. code-server: ``build-packages.txt`` (Debian packages of that root),
  ``npm-pack.txt`` (npm packages fetched on this machine with ``npm pack``), ``build.sh``
  (run in that root) and ``outputs`` (the folders that go into the image);
- ``rootfs/``: an overlay copied into the root as it is;
- ``build.d/``: scripts run inside the root (chroot) in name order.

The SHA-256 of that tree (plus the build machine's own CA certificates, which the image
trusts too) is the *recipe hash*; the image carries it as the label ``wws.dev/recipe-hash``
and is rebuilt only when the hash changes or the image is missing.

The image has two layers. The *base* (``<repository>-base:<base-hash>``, e.g.
``localhost/wws/workspace-base:1a2b...``) holds everything but ``init/``, ``agent/``,
``languages/`` and ``boot.d/`` and is rebuilt only when its part of the recipe changes; the
*top* layer copies those four onto it with ``podman build`` (no container runs), in seconds.

Steps of a base build, each announced on stderr (and logged in full to
``<data-dir>/images/build.log``):

1. the package tarball ``<data-dir>/images/cache/debootstrap-<suite>-<key>.tar``
   (``debootstrap --make-tarball``; kept, keyed by suite, mirror, architecture and
   packages, so a recipe change that only touches scripts downloads nothing);
2. each artifact, unless ``<data-dir>/images/cache/artifact-<name>-<key>.tar`` is there
   (keyed by the artifact's folder): its own package tarball, root and ``build.sh``, with
   npm's cache kept in ``<data-dir>/images/cache/npm``;
3. ``debootstrap --unpack-tarball`` into ``<data-dir>/images/build/<hash>/rootfs``;
4. the artifacts, the overlay and the build scripts go in, apt's caches come out;
5. ``tar | podman import --change CMD=... --change LABEL=...`` to the base image; the
   build folder is removed.

Packages come from the Debian mirror that this machine's apt uses (``/etc/apt``), no other
host (``WWS_DEBIAN_MIRROR`` overrides it), and from the npm registry that this machine's
``npm`` uses.

Modules, one job each: ``recipe`` (the recipe folder, where its parts go, its hashes),
``apt`` (which Debian mirror), ``debootstrap`` (package tarballs and roots), ``runner``
(one build step and its progress lines), ``rootfs`` (mounts, chroot, overlay, build
scripts), ``artifacts`` (code-server and the like), ``podman`` (import, top layer,
labels) and ``image`` (``ensure_image``: the whole build, only when needed).
"""
