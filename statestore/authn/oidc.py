"""JWTs from OIDC issuers, verified as kube-apiserver's ``jwt`` authenticators verify them.

Keys come from the issuer's discovery document and its JWKS (over https, trusting the
configured ``certificateAuthority``). A token naming a key id the store does not know makes
it fetch the JWKS again (rate-limited), which is how a rotated key is picked up. PyJWT
checks the signature (asymmetric algorithms only: ``alg: none`` and HMAC never verify),
``exp`` and ``nbf``; ``iss`` and ``aud`` are matched to the configuration.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt

from statestore import celenv
from statestore.authn.config import JWTAuthenticator, Mapping
from statestore.authn.user import UserInfo
from wws import logconfig

log = logconfig.get(__name__)

#: What kube-apiserver accepts (its default list): asymmetric algorithms only.
ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512")
#: A key id missing from the JWKS triggers a fetch at most once per this many seconds per
#: id, and all fetches together at most once per ``MIN_FETCH_INTERVAL``: tokens with made-up
#: key ids cannot turn the store into a load generator against the issuer.
MISSING_KID_INTERVAL = 10.0
MIN_FETCH_INTERVAL = 1.0
FETCH_TIMEOUT = 10.0


class TokenRejected(Exception):
    """Why a token is not accepted (logged, never sent to the client)."""


@dataclass
class _Keys:
    keys: dict[str, Any] = field(default_factory=dict)  # kid → PyJWK
    anonymous: list[Any] = field(default_factory=list)  # keys without a kid
    algorithms: tuple[str, ...] = ALGORITHMS
    fetched_at: float = 0.0


def _ssl_context(ca_pem: str) -> ssl.SSLContext:
    if ca_pem.strip():
        return ssl.create_default_context(cadata=ca_pem)
    return ssl.create_default_context()


class Issuer:
    """One configured issuer: its keys and the mapping of claims to a user."""

    def __init__(self, config: JWTAuthenticator) -> None:
        self.config = config
        self._keys: _Keys | None = None
        self._lock = asyncio.Lock()
        self._missing: dict[str, float] = {}
        self._context = _ssl_context(config.certificate_authority)

    # ------------------------------------------------------------ keys

    async def _get_json(self, session: aiohttp.ClientSession, url: str) -> Any:
        async with session.get(url, ssl=self._context) as response:
            if response.status != 200:
                raise TokenRejected(f"{url} answered {response.status}")
            return await response.json(content_type=None)

    async def _fetch(self) -> _Keys:
        config = self.config
        discovery_url = (
            config.discovery_url
            or config.issuer_url.rstrip("/") + "/.well-known/openid-configuration"
        )
        timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            discovery = await self._get_json(session, discovery_url)
            if not isinstance(discovery, dict) or not discovery.get("jwks_uri"):
                raise TokenRejected(f"{discovery_url} names no jwks_uri")
            if not config.discovery_url and discovery.get("issuer") != config.issuer_url:
                # go-oidc's check: the document must be the issuer's own.
                raise TokenRejected(
                    f"oidc: issuer did not match the issuer returned by provider, expected "
                    f"{config.issuer_url!r} got {discovery.get('issuer')!r}"
                )
            jwks = await self._get_json(session, str(discovery["jwks_uri"]))
        keys = _Keys(fetched_at=time.monotonic())
        offered = discovery.get("id_token_signing_alg_values_supported")
        if isinstance(offered, list) and offered:
            keys.algorithms = tuple(a for a in ALGORITHMS if a in offered) or ALGORITHMS
        for raw in (jwks or {}).get("keys", []) if isinstance(jwks, dict) else []:
            try:
                key = jwt.PyJWK(raw)
            except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as error:
                log.warning("authn.jwks_key_skipped", issuer=config.issuer_url, error=str(error))
                continue
            if key.key_id:
                keys.keys[key.key_id] = key
            else:
                keys.anonymous.append(key)
        log.info(
            "authn.jwks_fetched",
            issuer=config.issuer_url,
            keys=len(keys.keys) + len(keys.anonymous),
        )
        return keys

    async def refresh(self, *, force: bool) -> _Keys:
        async with self._lock:
            current = self._keys
            if current is not None:
                if not force:
                    return current
                wait = MIN_FETCH_INTERVAL - (time.monotonic() - current.fetched_at)
                if wait > 0:
                    await asyncio.sleep(wait)  # serialised by the lock: ≤ 1 fetch a second
            try:
                self._keys = await self._fetch()
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as error:
                if current is None:
                    raise TokenRejected(
                        f"cannot fetch the keys of {self.config.issuer_url}: {error}"
                    ) from error
                log.warning(
                    "authn.jwks_refresh_failed", issuer=self.config.issuer_url, error=str(error)
                )
                current.fetched_at = time.monotonic()  # rate-limit retries too
                return current
            return self._keys

    async def _candidates(self, kid: str | None) -> tuple[list[Any], tuple[str, ...]]:
        keys = await self.refresh(force=False)
        if kid is not None and kid not in keys.keys:
            now = time.monotonic()
            if now - self._missing.get(kid, -MISSING_KID_INTERVAL) >= MISSING_KID_INTERVAL:
                # A rotated key: fetch the JWKS again.
                keys = await self.refresh(force=True)
                if kid not in keys.keys:
                    self._missing[kid] = now
                    if len(self._missing) > 1000:
                        self._missing.clear()
        if kid is not None:
            found = keys.keys.get(kid)
            return ([found] if found else []), keys.algorithms
        return [*keys.keys.values(), *keys.anonymous], keys.algorithms

    # ------------------------------------------------------------ verification

    async def verify(self, token: str) -> tuple[dict[str, Any], float]:
        """The verified claims and the token's expiry (epoch seconds)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise TokenRejected(f"malformed token: {error}") from error
        algorithm = header.get("alg")
        kid = header.get("kid")
        if algorithm not in ALGORITHMS:
            raise TokenRejected(f"unsupported signing algorithm {algorithm!r}")
        candidates, algorithms = await self._candidates(kid if isinstance(kid, str) else None)
        if not candidates:
            raise TokenRejected(f"no key with id {kid!r} in the issuer's JWKS")
        last: Exception | None = None
        for key in candidates:
            try:
                claims = jwt.decode(
                    token,
                    key=key,
                    algorithms=list(algorithms),
                    audience=list(self.config.audiences),
                    issuer=self.config.issuer_url,
                    options={"require": ["exp", "iss", "aud"]},
                )
            except jwt.InvalidSignatureError as error:
                last = error
                continue
            except jwt.PyJWTError as error:
                raise TokenRejected(str(error)) from error
            return claims, float(claims["exp"])
        raise TokenRejected(f"signature verification failed: {last}")

    # ------------------------------------------------------------ claims → user

    def user_for(self, claims: dict[str, Any]) -> UserInfo:
        config = self.config
        cel_claims = {"claims": celenv.to_cel(claims)}
        for rule in config.claim_rules:
            if rule.expression is not None:
                if _evaluate(rule.expression, cel_claims) is not True:
                    raise TokenRejected(
                        rule.message
                        or f"claim validation rule failed: {rule.expression.expression}"
                    )
            elif claims.get(rule.claim) != rule.required_value:
                raise TokenRejected(f"claim {rule.claim!r} is not {rule.required_value!r}")
        username = _single(config.username, claims, cel_claims, "username")
        if not username:
            raise TokenRejected("the username claim mapping produced an empty username")
        if config.username.claim == "email" and claims.get("email_verified", True) is not True:
            raise TokenRejected("email not verified")
        groups: list[str] = []
        if config.groups is not None:
            groups = _many(config.groups, claims, cel_claims, "groups")
        uid = _single(config.uid, claims, cel_claims, "uid") if config.uid else ""
        extra: dict[str, tuple[str, ...]] = {}
        for mapping in config.extra:
            value = _evaluate(mapping.value, cel_claims)
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise TokenRejected(
                    f"extra mapping {mapping.key!r} is not a string or a list of strings"
                )
            if values:
                extra[mapping.key] = tuple(values)
        user = UserInfo(username=username, uid=uid, groups=tuple(groups), extra=extra)
        if config.user_rules:
            cel_user = {"user": celenv.to_cel(user.to_dict() | {"groups": list(user.groups)})}
            for rule in config.user_rules:
                assert rule.expression is not None
                if _evaluate(rule.expression, cel_user) is not True:
                    raise TokenRejected(
                        rule.message or f"user validation rule failed: {rule.expression.expression}"
                    )
        return user


def _evaluate(program: celenv.Program, activation: dict[str, Any]) -> Any:
    try:
        return program.evaluate(activation)
    except celenv.EvaluationError as error:
        raise TokenRejected(f"{program.expression}: {error}") from error


def _single(mapping: Mapping | None, claims: dict[str, Any], cel: dict[str, Any], what: str) -> str:
    if mapping is None:
        return ""
    value = _evaluate(mapping.expression, cel) if mapping.expression else claims.get(mapping.claim)
    if not isinstance(value, str):
        raise TokenRejected(f"{what} claim {mapping.claim or mapping.expression!r} is not a string")
    return mapping.prefix + value


def _many(mapping: Mapping, claims: dict[str, Any], cel: dict[str, Any], what: str) -> list[str]:
    if mapping.expression is not None:
        value = _evaluate(mapping.expression, cel)
    else:
        value = claims.get(mapping.claim)
        if value is None:
            return []
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise TokenRejected(f"{what} claim is not a string or a list of strings")
    return [mapping.prefix + v for v in values]


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` a JWT claims, to pick its authenticator (verified afterwards)."""
    if token.count(".") != 2:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else None
