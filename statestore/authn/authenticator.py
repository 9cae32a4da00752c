"""The request authenticator: a bearer token → a user, or ``Unauthorized``.

The static token file is a dictionary lookup. A JWT is verified once (signature, issuer,
audience, expiry, claim rules) and the resulting user cached under the token's SHA-256 until
the token expires, so a busy client costs one verification, not one per request.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict

from statestore import accessmetrics
from statestore.authn import oidc
from statestore.authn.user import Unauthorized, UserInfo
from wws import logconfig

log = logconfig.get(__name__)

CACHE_SIZE = 10_000


class Authenticator:
    def __init__(
        self,
        *,
        tokens: dict[str, UserInfo] | None = None,
        issuers: list[oidc.Issuer] | None = None,
    ) -> None:
        self.tokens = dict(tokens or {})
        self.issuers = {issuer.config.issuer_url: issuer for issuer in issuers or []}
        self._cache: OrderedDict[bytes, tuple[UserInfo, float]] = OrderedDict()
        self._generation = 0  # configurations replaced so far

    def replace_issuers(self, issuers: list[oidc.Issuer]) -> None:
        """A new --authentication-config: its issuers, and no token verified under the old."""
        self.issuers = {issuer.config.issuer_url: issuer for issuer in issuers}
        self._cache.clear()
        self._generation += 1

    async def authenticate(self, authorization: bytes | None) -> UserInfo:
        token = _bearer(authorization)
        if token is None:
            accessmetrics.AUTHENTICATION.labels("failure", "none").inc()
            raise Unauthorized("no bearer token")
        user = self.tokens.get(token)
        if user is not None:
            accessmetrics.AUTHENTICATION.labels("success", "tokenfile").inc()
            return user.with_authenticated()
        digest = hashlib.sha256(token.encode()).digest()
        cached = self._cache.get(digest)
        now = time.time()
        if cached is not None:
            if cached[1] > now:
                self._cache.move_to_end(digest)
                accessmetrics.AUTHENTICATION.labels("success", "jwt").inc()
                return cached[0]
            del self._cache[digest]
        issuer_url = oidc.unverified_issuer(token)
        issuer = self.issuers.get(issuer_url) if issuer_url else None
        if issuer is None:
            accessmetrics.AUTHENTICATION.labels("failure", "none").inc()
            raise Unauthorized("unknown token")
        generation = self._generation
        try:
            claims, expiry = await issuer.verify(token)
            user = issuer.user_for(claims).with_authenticated()
        except oidc.TokenRejected as error:
            accessmetrics.TOKEN_VERIFICATIONS.labels("rejected").inc()
            log.info("authn.jwt_rejected", issuer=issuer_url, reason=str(error))
            accessmetrics.AUTHENTICATION.labels("failure", "jwt").inc()
            raise Unauthorized(str(error)) from error
        accessmetrics.TOKEN_VERIFICATIONS.labels("verified").inc()
        accessmetrics.AUTHENTICATION.labels("success", "jwt").inc()
        if generation == self._generation:  # not if the configuration changed meanwhile
            self._cache[digest] = (user, expiry)
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return user


def _bearer(header: bytes | None) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (kube's parsing: case-insensitive
    scheme, one space, non-empty token)."""
    if not header:
        return None
    try:
        text = header.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    parts = text.split(" ", 2)
    if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
        return None
    return parts[1]
