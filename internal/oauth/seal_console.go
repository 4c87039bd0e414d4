//go:build !latch.lambda

package oauth

import (
	"context"
	"errors"
	"time"
)

// ErrSealed is what OpenConsole returns for a value that was not sealed for
// the console by a key that still verifies, or that has expired.
var ErrSealed = errors.New("sealed value invalid or expired")

// SealConsole seals v for the console (package console) for ttl, with the
// same HKDF-derived keys as the hosted login's values but a key of its own,
// so that nothing the console seals opens as a login session or a pending
// request, nor the other way round. Sealed values are signed, not
// encrypted: the browser that carries one can read it.
func (s *Server) SealConsole(ctx context.Context, v any, ttl time.Duration) (string, error) {
	return s.web.seal.seal(ctx, sealConsole, v, ttl)
}

// OpenConsole checks a value sealed by SealConsole and decodes it into v:
// ErrSealed when it is forged, altered, sealed for another purpose or
// expired; a store failure (reading the signing keys) as is.
func (s *Server) OpenConsole(ctx context.Context, raw string, v any) error {
	err := s.web.seal.unseal(ctx, sealConsole, raw, v)
	if isSealError(err) {
		return ErrSealed
	}
	return err
}
