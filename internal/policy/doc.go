// Package policy is Latch's object-level policy engine: it parses and
// validates statements, compiles a principal's statements into a matcher,
// decides requests and explains the decisions. It is pure: no I/O, no clock,
// no globals; callers (the authorizer, the config validator, the CLI) load
// users, roles and audiences and pass them in.
//
// # Statements
//
// A statement is "METHODS PATH", or "PATH" alone, which means "* PATH" (the
// seed documents write deny: ["/7", "/7/*"]).
//
//   - METHODS is "*" (every method) or a comma list of upper-case HTTP methods
//     ("GET,HEAD"); lower case is an error, duplicates are dropped. Methods
//     are matched exactly: GET does not imply HEAD for an allow. A deny
//     statement naming GET also denies HEAD, because servers answer HEAD with
//     their GET handler (Go's ServeMux does).
//   - PATH is absolute and matched segment by segment, case-sensitively,
//     against the canonical request path (see Canonicalize). A segment "*"
//     matches exactly one segment; a final "**" matches zero or more
//     ("/employee/5/**" matches "/employee/5" and everything below it); "*" or
//     "/**" alone matches every path; "/" matches the root only. A wildcard is
//     always a whole segment: "/employee/5*" is an error, so "/5*" can never
//     match "/50". "**" anywhere but last is an error.
//   - Literal segments are stored in canonical form ("%37" is "7"); a dot
//     segment, an empty segment (so also a trailing slash), a '?', '#' or '\'
//     is an error.
//   - {sub}, {org}, {client_id} and {attr.NAME} are placeholders. Each must be
//     a whole segment ("/u/{sub}/**"; "prefix{sub}" is an error). They are
//     replaced when a policy is compiled: {sub} with the user's id (for a
//     client principal {sub} matches nothing: a client whose id is "5" never
//     gets user 5's objects; write {client_id}), {org} with the principal's
//     organization, {client_id} with the token's client, {attr.NAME} with
//     each value of the attribute (a list gives one statement per value, and
//     several placeholders their cross product). A missing or empty value,
//     or a value that is not exactly one canonical segment ("", ".", "5/6",
//     "%37", "a b"), makes the statement match nothing, never everything; a
//     value "*" is the literal segment "*", never a wildcard.
//
// Parse errors are latch.EINVALID and name the statement and the column.
//
// # Decisions
//
// A principal's statements are its own allow and deny lists plus those of its
// roles (the principal layer); the token's audiences map each scope to allow
// statements (the scope layer). A request is allowed when no deny statement
// matches it and every layer that exists allows it. The principal layer
// exists when the principal has any statement or any role (even one whose
// statements all match nothing); the scope layer exists when one of the
// token's audiences maps any scope to a statement (and then only the token's
// own scopes count). When neither layer exists, the answer is deny.
//
// # Canonical paths
//
// Canonicalize is the one canonical-path function; Decide applies it itself,
// so callers pass the raw (escaped) path and may leave the query string on.
// Percent-encoded unreserved characters are decoded once; a path with an
// encoded '/' or '\', a "." or ".." segment (also encoded), an empty segment,
// a control character or NUL, a bad percent escape or invalid UTF-8 is denied
// whatever the ACL says.
//
// Trailing slash rule: a trailing slash is an empty final segment, and the
// path is refused (denied), like "//". "/api/employee/5/" is neither
// "/api/employee/5" nor something else; only the root "/" ends in '/'.
//
// The engine compares exact canonical strings: "07", "+7", "7.json",
// "7;x=1", "7%20" and the full-width "７" are objects other than "7", which
// a deny on "/7" does not cover. That is what makes ids like "1" and "01"
// never alias in an ACL; it also means the resource server must parse ids
// with a strict grammar (security checklist, section 8) and answer 400 or 404
// for such spellings, so that it acts on exactly the object the engine
// decided on.
//
// # Cost
//
// Compile builds a segment trie once per principal; Decide walks it along the
// request's segments, so a decision costs O(path depth) whatever the number
// of statements (a "*" beside literals at the same depth adds a branch, and
// no trie node is visited twice), and allocates nothing unless the path needs
// rewriting into canonical form. Explanations are computed only when asked
// for. A compiled Policy is immutable and safe for concurrent use.
package policy
