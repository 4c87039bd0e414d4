package latch

import "strings"

// ParseBearer parses one Authorization header value as an RFC 6750 bearer
// credential: "Bearer" in any case, exactly one space, and a token68 token
// (letters, digits, "-._~+/", and '=' only as trailing padding). Anything
// else (no token, two spaces, a tab, trailing junk, another scheme) is
// refused. It is the one parser every edge uses: the OAuth2 endpoints, the
// authorizer's adapters, the API Gateway events and the Go middleware.
func ParseBearer(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		case c == '=' && i > 0:
		default:
			return "", false
		}
	}
	if i := strings.IndexByte(tok, '='); i >= 0 && strings.TrimRight(tok[i:], "=") != "" {
		return "", false
	}
	return tok, true
}
