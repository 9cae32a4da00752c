"""The web UI as an OIDC issuer: short-lived JWTs naming a signed-in person.

The store (or kube-apiserver) trusts the issuer through an ``AuthenticationConfiguration``
that maps claim ``login`` to the username ``github:<login>`` and ``emails`` to the extra
``wws.dev/emails``. Discovery is served at ``<issuer>/.well-known/openid-configuration`` and
the keys at ``<issuer>/openid/v1/jwks``. Signing is joserfc's (authlib's successor for
JOSE); nothing here is crypto.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from webui.kube import Person

AUDIENCE = "wws"
JWKS_PATH = "/openid/v1/jwks"
ALGORITHM = "RS256"


class Issuer:
    """Signs tokens with one RSA key, made at start or read from a PEM file."""

    def __init__(self, issuer: str, *, key_file: Path | None = None) -> None:
        self.issuer = issuer.rstrip("/")
        if key_file is not None and key_file.exists():
            self._key = RSAKey.import_key(key_file.read_bytes())
        else:
            self._key = RSAKey.generate_key(2048)
            if key_file is not None:
                key_file.parent.mkdir(parents=True, exist_ok=True)
                key_file.touch(mode=0o600)
                key_file.write_bytes(self._key.as_pem(private=True))
        self.kid = str(self._key.thumbprint())

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.issuer + JWKS_PATH,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "login", "emails"],
        }

    def jwks(self) -> dict[str, Any]:
        public: dict[str, Any] = dict(self._key.as_dict(private=False))
        public.update({"kid": self.kid, "alg": ALGORITHM, "use": "sig"})
        return {"keys": [public]}

    def token(self, person: Person, *, seconds: float) -> tuple[str, int]:
        """A token for ``person`` valid ``seconds`` from now; (token, expiry as epoch)."""
        now = int(time.time())
        expiry = now + int(seconds)
        claims = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": person.username,
            "login": person.login,
            "emails": list(person.emails),
            "iat": now,
            "nbf": now,
            "exp": expiry,
        }
        header = {"alg": ALGORITHM, "kid": self.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self._key, algorithms=[ALGORITHM]), expiry

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token this issuer signed (for tests and the kubeconfig page)."""
        decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
        registry = jwt.JWTClaimsRegistry(iss={"essential": True, "value": self.issuer})
        registry.validate(decoded.claims)
        return dict(decoded.claims)
