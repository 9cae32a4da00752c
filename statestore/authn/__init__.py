"""Authentication: who is making a request (kube-apiserver's authenticators, WWS-sized).

A request carries a bearer token; the static token file (``--token-auth-file``) or a JWT
authenticator (``--authentication-config``) turns it into a :class:`UserInfo`. Anything else
is 401 with the one word kube-apiserver says: ``Unauthorized``.
"""
