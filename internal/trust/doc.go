// Package trust lets the authorizer accept tokens from external identity
// providers (Amazon Cognito user pools, or any OpenID provider that publishes
// a JWKS) besides Latch's own. Its Verifier wraps Latch's token verifier: a
// JWS whose unverified iss names a configured Issuer is verified here, every
// other token goes to the wrapped verifier unchanged.
//
// The trust model:
//
//   - The identity provider vouches only for who the bearer is; Latch still
//     decides what they may do. A token is accepted only if a Latch user
//     whose id is the token's sub exists, is enabled, and belongs to the
//     issuer's org (taken from the configuration, never from the token); the
//     decision then comes from that user's Latch ACL and roles. Creating the
//     user (a Cognito post-confirmation trigger) is the enrolment step;
//     disabling or deleting it revokes every token the provider keeps
//     issuing, which Latch could not stop otherwise. For the same reason a
//     disabled org refuses its issuer's tokens.
//   - Each issuer maps to its own org, and two issuers may not share one: the
//     sub namespaces of two providers must never meet in one org. An org
//     that also holds users created by Latch is only as safe as the
//     provider's sub values are unguessable (Cognito's are random UUIDs).
//   - TokenInfo.Audience is left nil. Latch's scope layer turns the token's
//     audiences into Latch audiences (resource servers registered in Latch)
//     and their scope statements; an external token's aud is the provider's
//     app client id, a different namespace, and a client id that happened to
//     equal an audience id would borrow that audience's scope statements.
//     Without audiences the decision is the user's own ACL. Scopes starting
//     with "latch/" are dropped too: Latch's own scopes are Latch's to grant.
//   - Keys come only from the issuer's configured jwks_uri, never from a
//     token (jku, x5u, x5c and jwk headers are ignored); kid is only a map
//     key. The algorithm must be one the issuer allows (asymmetric only, so
//     alg none and HMAC with a public key as secret never verify) and must fit
//     the key (its alg when the JWKS gives one, its type and curve always).
//   - The JWKS is fetched on first use, not in New, so a cold start (a
//     Lambda) never depends on the provider. An unknown kid refetches it at
//     most once per MinRefetch per issuer, so tokens with made-up kids cannot
//     make Latch hammer the provider; concurrent requests share one fetch.
//     Keys older than MaxAge are refetched on use, so a key the provider
//     withdraws stops verifying; if that refetch fails the known keys are kept
//     (a provider outage must not lock every user out). While no key set was
//     ever fetched, the issuer's tokens are refused with EUNAVAILABLE.
//
// What this package must never do: answer "valid" when the store or the
// provider cannot be reached (those are errors, which callers deny); fall
// back from an external issuer to Latch's verifier or the other way round; put
// a token or its claims in an error a client sees (every refusal is
// EUNAUTHORIZED "invalid token", the reason kept in the wrapped cause) or in a
// log line.
package trust
