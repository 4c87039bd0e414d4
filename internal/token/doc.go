// Package token mints and verifies Latch's tokens: JWT access tokens (RFC
// 9068, header typ at+jwt), OIDC ID tokens, opaque access and refresh tokens
// with their SHA-256 digests, and the signing keys behind the JWTs, with
// rotation and the published JWKS.
//
// Signing keys are read from the store and parsed once into crypto.Signer
// values held behind an atomic pointer; minting and verifying never touch the
// store, never parse a key and never take a lock.
//
// What this package must never do:
//   - trust anything a token says about how to verify it: the algorithm is
//     bound to the key the kid names, alg none (in any case) and HMAC are
//     refused, and the jku, x5u, x5c and jwk headers are ignored, never fetched;
//   - accept a token it cannot read unambiguously: non-compact forms, padding
//     or whitespace, duplicate JSON member names, missing exp, iat, iss, sub,
//     aud, jti, client_id or org_id;
//   - echo a token or its contents in an error a client sees: every
//     verification failure is latch.EUNAUTHORIZED "invalid token", with the
//     reason kept in the wrapped cause for logs;
//   - store an opaque token: only its digest leaves this package;
//   - let a private key leave the process other than as the store's PKCS#8
//     bytes (the JWKS carries public keys only).
package token
