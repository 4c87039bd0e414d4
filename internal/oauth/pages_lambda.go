//go:build latch.lambda

package oauth

import "net/http"

// hostedLogin: the Lambda build has no browser endpoints (see
// registerBrowser in pages_web.go); its token function still redeems codes.
type hostedLogin struct{}

func newHostedLogin(Deps) *hostedLogin { return nil }

// registerBrowser adds nothing: the Lambda functions serve no pages.
func (s *Server) registerBrowser(*http.ServeMux) {}
