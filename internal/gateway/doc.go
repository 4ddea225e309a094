// Package gateway is Kaiin's token-checking reverse proxy: it matches a
// request to a route by host and path prefix, checks the caller's access
// token, scopes and client, counts the request against the route's rate
// limit in the hot state, and proxies it to one of the route's upstreams
// with the caller's identity in X-Kaiin-* headers.
//
// # The request path
//
// Everything that can be decided once is decided in SetRoutes: routes are
// validated and compiled into a table swapped atomically, each route owns
// an httputil.ReverseProxy and a pool of upstreams whose Transport keeps
// as many idle connections per host as the expected concurrency. Per
// request the gateway does, in order:
//
//  1. match the route (404 when none);
//  2. drop every X-Kaiin-* header the client sent;
//  3. unless the route is anonymous, take the Bearer token and verify it
//     (401 with an RFC 6750 WWW-Authenticate challenge);
//  4. check the route's required scopes and allowed clients (403);
//  5. count the request against the route's rate limit, per client, or per
//     client IP on an anonymous route (429 with Retry-After);
//  6. proxy it, round-robin across the route's healthy upstreams.
//
// # Tokens
//
// A JWT is verified once (JWTVerifier: signature against Kaiin's JWKS,
// issuer, expiry); its claims are then cached by the SHA-256 of the token
// until the token expires, in a bounded cache, and failures are never
// cached. Opaque tokens are introspected (IntrospectionVerifier) and cached
// for a short while. Either way a cached token is re-checked against the
// hot state's revocation record at most RevocationMaxAge (500 ms) after its
// last check, so a token revoked at Kaiin is refused by every gateway
// within one second without a hot-state read per request.
//
// A flood of bad tokens would pay a full verification each. Failures are
// therefore counted per client IP in an in-memory token bucket: an address
// over its budget is answered 429 for anything not already in the cache,
// without verifying; and full verifications run at most GOMAXPROCS/2 at
// once, so cached (good) traffic always has CPU left.
//
// # Upstreams
//
// An upstream that fails (a connection error, a timeout, or a 502, 503 or
// 504 answer) is taken out of rotation for a cool-down that doubles with
// each consecutive failure (10 s up to 5 min) and ends at its first
// success. When every upstream is out, the one due back first is tried
// anyway, so a brief outage of all of them never outlasts the outage.
// A failed attempt is retried on another upstream only for idempotent
// methods (GET, HEAD, OPTIONS, PUT, DELETE) without a request body, and
// never once anything has been written to the client.
package gateway
