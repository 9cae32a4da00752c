"""A local OIDC issuer for tests: discovery + JWKS over https (its own test CA), tokens
signed with PyJWT. Keys can be rotated; tokens can be made wrong in every way kube refuses."""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support import tlscerts


def _certificates(folder: Path) -> tuple[Path, Path, str]:
    """A CA and a server certificate for 127.0.0.1: (cert file, key file, CA PEM)."""
    ca, cert, key = tlscerts.write_ca_and_server_cert(
        folder, ca_name="wws-test-oidc-ca", server_name="127.0.0.1", stem="oidc"
    )
    return cert, key, ca.read_text()


@dataclass
class SigningKey:
    kid: str
    private: Any
    algorithm: str

    def jwk(self) -> dict[str, Any]:
        algorithm = (
            jwt.algorithms.RSAAlgorithm if self.algorithm == "RS256" else jwt.algorithms.ECAlgorithm
        )
        public = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "alg": self.algorithm}


def new_key(algorithm: str = "RS256") -> SigningKey:
    if algorithm == "RS256":
        private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        private = ec.generate_private_key(ec.SECP256R1())
    return SigningKey(uuid.uuid4().hex[:12], private, algorithm)


@dataclass
class Issuer:
    folder: Path
    audience: str = "wws"
    keys: list[SigningKey] = field(default_factory=list)
    jwks_fetches: int = 0
    _server: ThreadingHTTPServer | None = None
    ca_pem: str = ""

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Issuer:
        self.folder.mkdir(parents=True, exist_ok=True)
        cert, key, self.ca_pem = _certificates(self.folder)
        if not self.keys:
            self.keys.append(new_key("RS256"))
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body: Any = {
                        "issuer": issuer.url,
                        "jwks_uri": f"{issuer.url}/keys",
                        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                        "response_types_supported": ["id_token"],
                        "subject_types_supported": ["public"],
                    }
                elif self.path == "/keys":
                    issuer.jwks_fetches += 1
                    body = {"keys": [k.jwk() for k in issuer.keys]}
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def rotate(self, algorithm: str = "ES256") -> SigningKey:
        """A new signing key, published next to the old ones (as Dex rotates)."""
        key = new_key(algorithm)
        self.keys.append(key)
        return key

    def token(
        self,
        login: str,
        /,
        *,
        key: SigningKey | None = None,
        lifetime: float = 600,
        **overrides: Any,
    ) -> str:
        key = key or self.keys[0]
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": self.audience,
            "sub": f"github|{login}",
            "login": login,
            "emails": [f"{login}@example.com"],
            "iat": now,
            "nbf": now,
            "exp": now + int(lifetime),
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, key.private, algorithm=key.algorithm, headers={"kid": key.kid})

    def authentication_config(self, *, groups_claim: str | None = "groups") -> str:
        """The store's AuthenticationConfiguration for this issuer, as identity.md says."""
        config: dict[str, Any] = {
            "apiVersion": "apiserver.config.k8s.io/v1beta1",
            "kind": "AuthenticationConfiguration",
            "jwt": [
                {
                    "issuer": {
                        "url": self.url,
                        "certificateAuthority": self.ca_pem,
                        "audiences": [self.audience],
                    },
                    "claimMappings": {
                        "username": {"claim": "login", "prefix": "github:"},
                        "extra": [{"key": "wws.dev/emails", "valueExpression": "claims.emails"}],
                    },
                    "claimValidationRules": [
                        {"expression": "has(claims.login)", "message": "login is required"}
                    ],
                }
            ],
        }
        if groups_claim:
            config["jwt"][0]["claimMappings"]["groups"] = {
                "claim": groups_claim,
                "prefix": "github:",
            }
        return json.dumps(config)
