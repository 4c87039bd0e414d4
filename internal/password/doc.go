// Package password holds everything Latch does with people's secrets and
// names: it hashes and verifies user passwords, decides which passwords may be
// chosen, canonicalises the usernames and email addresses people sign in with,
// and makes and checks client secrets. It never logs, stores or returns a
// password or a client secret, never truncates one, and never compares secrets
// or digests with anything but a constant-time comparison.
//
// # User passwords
//
// New hashes are Argon2id in the PHC string format,
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// with the OWASP minimum parameters (19 MiB, two passes, one lane), a 16-byte
// salt from crypto/rand and a 32-byte key; salt and key are unpadded standard
// base64. The parameters travel with the hash, so raising them later makes
// Verify report needsRehash for every older hash (memory, passes, salt or key
// length below the current ones) and the caller stores a fresh hash at the
// next successful sign-in. Stored Argon2id hashes are accepted (so imported
// ones too) with version 19, m up to 256 MiB, t up to 32, p up to 16, salts of
// 8 to 64 bytes and keys of 16 to 64 bytes, each number in one spelling only.
//
// bcrypt hashes ($2a$, $2b$, $2y$) are accepted only for importing users from
// other systems, and only with a cost of 10 to 14: a lower cost is refused as
// an invalid hash, a higher one would let one sign-in take seconds. bcrypt
// reads only the first 72 bytes of a password, so Verify refuses a longer
// password for a bcrypt hash instead of comparing it (a stored 72-byte password
// plus any suffix must not sign in). A verified bcrypt hash always needs a
// rehash, which moves the user to Argon2id.
//
// Passwords are hashed byte for byte as given, without Unicode normalisation,
// so that imported hashes keep verifying. Verify and Hash refuse passwords of
// more than 1,024 bytes before doing any work. CheckNew is the policy for a
// password someone chooses: at least 8 characters, at most 1,024 bytes, valid
// UTF-8, and not one of the most common passwords (an embedded list, compared
// case-insensitively). There are no composition rules.
//
// An unknown user must cost what a wrong password costs: callers run
// DummyVerify, which computes one Argon2id hash with the current parameters,
// when there is no user to verify against. Other packages take the
// PasswordHasher interface so that their tests can inject a cheap or counting
// hasher (NewTestHasher, package passwordtest).
//
// # Usernames and email addresses
//
// CanonicalUsername and CanonicalEmail are the one rule used for
// registration, sign-in, the uniqueness check and ACL subjects; the stored
// form is the canonical one, and nothing else compares identifiers.
//
// A username is canonicalised with the PRECIS UsernameCaseMapped profile
// (RFC 8265 §3.3): full-width and half-width characters are mapped to their
// ordinary forms, the text is lower-cased and put in Unicode normalisation
// form C, and any character outside the PRECIS IdentifierClass (spaces,
// control characters, compatibility characters such as 'ſ' or 'ﬀ') is refused,
// never mapped. The result must be 1 to 128 characters long and must not
// contain '@', so that a username can never be taken for an email address.
// Thus "ａlice", "Alice" and "alice" are one user, so are "José" in NFC and in
// NFD, and the Kelvin sign K is k; but "İnfo" (dotted capital I) becomes
// "i̇nfo", which is not "info", and "ſam" is refused.
//
// An email address must contain exactly one '@' and is split there; the local
// part and the domain are each canonicalised with UsernameCaseMapped, so
// "Alice@Example.com" and "alice@example.com" are one address. There is no
// provider-specific folding: dots and "+tags" in the local part are kept. After
// mapping, the local part must be 1 to 64 bytes of RFC 5322 atext and dots
// (no leading, trailing or doubled dot; non-ASCII letters allowed, as in
// RFC 6531), and the domain must be an ASCII host name of at least two labels,
// each 1 to 63 letters, digits or hyphens not starting or ending with a hyphen,
// whose last label is not all digits: internationalised domains are written in
// their xn-- form, so each domain has exactly one spelling. The whole address
// is at most 254 bytes.
//
// At sign-in, an identifier that fails canonicalisation must be answered like
// an unknown user (DummyVerify, same response), never with its own error.
//
// # Client secrets
//
// Client secrets are not passwords: NewClientSecret makes 256 random bits
// (43 characters of unpadded base64url), and a slow hash would buy nothing for
// them while costing most of a token request. They are stored as a keyed
// SHA-256 digest with a random per-secret key kept beside it,
//
//	hmac-sha256$<16-byte key, base64url>$<HMAC-SHA256(key, secret), base64url>
//
// which needs no server-wide key, so a secret_hash printed by
// `latch client create` works in a config file on any server. Secrets written
// by people into a config file must be at least 32 characters
// (CheckConfigSecret). VerifyClientSecret compares fixed-length digests in
// constant time, and DummyVerifyClientSecret does the same work for unknown
// client ids.
package password
