// Package lambda answers API Gateway Lambda authorizer events with latch's
// decisions: REST TOKEN and REQUEST events with an IAM policy response, HTTP
// API (payload format 2.0) events with a simple response or, as an option,
// an IAM policy response. It is pure: functions from an event to a response
// over an authorizer.Resolver, with no AWS call and no Lambda runtime (the
// bootstrap in cmd/ hands Handler's methods to the runtime).
//
// It never allows what it could not check. A missing or malformed
// Authorization header and a token the Resolver refuses give the error
// ErrUnauthorized, whose text API Gateway turns into 401; a store it cannot
// reach, an ARN it cannot parse, a panic, anything else gives another error
// (500); an authenticated principal who may not make the request gets a
// document or a simple response that denies it (403).
//
// # Tokens
//
// The token is read from the Authorization header only ("Bearer", any case,
// one space, a token68 token, nothing else; RFC 6750 section 2.1): the TOKEN
// event's authorizationToken, which is that header's value, or the REQUEST
// and HTTP API events' headers (any case; a header given twice is refused).
// A token in the query string is not accepted.
//
// # Which path is decided
//
// The request is the method and path of the event's methodArn (routeArn for
// HTTP APIs), never the REQUEST event's path field: IAM matches the cached
// document against that ARN, and the path field may carry a custom domain's
// base path mapping that the ARN does not, so deciding on the ARN keeps the
// decision and the cached document in one path space. policy.DecideARN
// canonicalises the path (a '?' or '#' in it is denied).
//
// # Caching
//
// REST responses carry the principal's whole policy (policy.Policy.IAM):
// every path and method it may call, so API Gateway's cached copy is right
// for every later request of the same token. Where that document cannot be
// written (Outcome.IAM.Whole false, Fallback says why) or Options.PerRequest
// asks for it, the document covers the requested ARN alone, and the API must
// key the authorizer cache by method and path (a REQUEST authorizer whose
// identity sources include them) or set the TTL to 0; Options.Log gets
// every outcome so that the bootstrap can say so. Under a wildcard grant the
// whole document also denies paths with '%', ':', '\', '#', "//", a trailing
// '/' or a dot segment (see package policy's iam.go); APIs that need them
// use PerRequest.
//
// An HTTP API simple response is the decision for this route and path only:
// with caching on, its identity sources must include the method and the
// path (not only $context.routeKey, which is the route's template), or the
// TTL must be 0.
//
// Revocation: a cached document stays valid for the authorizer's TTL (at
// most 3,600 s), whatever happens to the token meanwhile.
package lambda

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"latch.dev/latch"
	"latch.dev/latch/internal/authorizer"
	"latch.dev/latch/internal/policy"
)

// ErrUnauthorized is the error for a missing, malformed or refused token.
// API Gateway answers 401 only when the function fails with exactly this
// text; return it unwrapped.
var ErrUnauthorized = errors.New("Unauthorized")

// Context keys of every response; the values are strings.
const (
	ContextSub      = "sub"       // the user id, or the client id for client tokens
	ContextSubType  = "sub_type"  // "user" or "client"
	ContextOrg      = "org_id"    // the principal's organization
	ContextClientID = "client_id" // the client the token was issued to
	ContextScope    = "scope"     // the token's scopes, space-separated
)

// Options configure a Handler.
type Options struct {
	// Budget bounds the whole-principal documents (zero: the defaults of
	// policy.IAMBudget).
	Budget policy.IAMBudget
	// PerRequest makes every IAM response cover the requested ARN alone,
	// for APIs whose authorizer cache is keyed by method and path or off.
	PerRequest bool
	// Log, when set, is called once per event with what was decided.
	Log func(context.Context, Outcome)
}

// Outcome is what one event came to, for logs and metrics.
type Outcome struct {
	Event       string // "TOKEN", "REQUEST" or "HTTP"
	ARN         string // the methodArn or routeArn, as received
	Principal   authorizer.Principal
	PrincipalID string
	Decision    policy.Decision   // for the requested method and path
	IAM         *policy.IAMResult // the document returned; nil for simple responses and errors
	Err         error             // the error returned, if any
}

// Handler answers authorizer events. It is safe for concurrent use.
type Handler struct {
	resolver authorizer.Resolver
	opts     Options
}

// New returns a Handler resolving tokens with r.
func New(r authorizer.Resolver, opts Options) *Handler {
	return &Handler{resolver: r, opts: opts}
}

// Token answers a REST TOKEN event with an IAM policy response.
func (h *Handler) Token(ctx context.Context, ev events.APIGatewayCustomAuthorizerRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	return run(ctx, h, "TOKEN", ev.MethodArn, func(out *Outcome) (events.APIGatewayCustomAuthorizerResponse, error) {
		v, err := h.authorize(ctx, out, ev.AuthorizationToken, true, ev.MethodArn)
		if err != nil {
			return events.APIGatewayCustomAuthorizerResponse{}, err
		}
		doc := h.document(out, v)
		return events.APIGatewayCustomAuthorizerResponse{PrincipalID: v.principalID, PolicyDocument: doc, Context: v.context}, nil
	})
}

// Request answers a REST REQUEST event with an IAM policy response.
func (h *Handler) Request(ctx context.Context, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	return run(ctx, h, "REQUEST", ev.MethodArn, func(out *Outcome) (events.APIGatewayCustomAuthorizerResponse, error) {
		header, ok := headerValue(ev.Headers, ev.MultiValueHeaders, "Authorization")
		v, err := h.authorize(ctx, out, header, ok, ev.MethodArn)
		if err != nil {
			return events.APIGatewayCustomAuthorizerResponse{}, err
		}
		doc := h.document(out, v)
		return events.APIGatewayCustomAuthorizerResponse{PrincipalID: v.principalID, PolicyDocument: doc, Context: v.context}, nil
	})
}

// HTTPSimple answers an HTTP API payload 2.0 event with a simple response:
// the decision for this route and path only (see Caching in the package
// documentation).
func (h *Handler) HTTPSimple(ctx context.Context, ev events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
	return run(ctx, h, "HTTP", ev.RouteArn, func(out *Outcome) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
		header, ok := headerValue(ev.Headers, nil, "Authorization")
		v, err := h.authorize(ctx, out, header, ok, ev.RouteArn)
		if err != nil {
			return events.APIGatewayV2CustomAuthorizerSimpleResponse{}, err
		}
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: out.Decision.Allowed, Context: v.context}, nil
	})
}

// HTTPIAM answers an HTTP API payload 2.0 event with an IAM policy
// response, as Request does.
func (h *Handler) HTTPIAM(ctx context.Context, ev events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerIAMPolicyResponse, error) {
	return run(ctx, h, "HTTP", ev.RouteArn, func(out *Outcome) (events.APIGatewayV2CustomAuthorizerIAMPolicyResponse, error) {
		header, ok := headerValue(ev.Headers, nil, "Authorization")
		v, err := h.authorize(ctx, out, header, ok, ev.RouteArn)
		if err != nil {
			return events.APIGatewayV2CustomAuthorizerIAMPolicyResponse{}, err
		}
		doc := h.document(out, v)
		return events.APIGatewayV2CustomAuthorizerIAMPolicyResponse{PrincipalID: v.principalID, PolicyDocument: doc, Context: v.context}, nil
	})
}

// run calls f, turns a panic into an error (never a response), and reports
// the outcome.
func run[R any](ctx context.Context, h *Handler, event, arn string, f func(*Outcome) (R, error)) (resp R, err error) {
	out := Outcome{Event: event, ARN: arn}
	defer func() {
		if v := recover(); v != nil {
			var zero R
			resp, err = zero, fmt.Errorf("lambda: internal error (panic: %v)", v)
			out.IAM = nil
		}
		out.Err = err
		if h.opts.Log != nil {
			h.opts.Log(ctx, out)
		}
	}()
	return f(&out)
}

// verdict is an authenticated request: who, with which policy, for which
// ARN.
type verdict struct {
	arn         policy.ARN
	policy      *policy.Policy
	principalID string
	context     map[string]any
}

// authorize authenticates the Authorization header's value (present says
// whether there was one), parses the ARN and decides.
func (h *Handler) authorize(ctx context.Context, out *Outcome, header string, present bool, rawARN string) (verdict, error) {
	token, ok := latch.ParseBearer(header)
	if !present || !ok {
		return verdict{}, ErrUnauthorized
	}
	arn, err := policy.ParseARN(rawARN)
	if err != nil {
		return verdict{}, fmt.Errorf("lambda: %w", err)
	}
	p, pol, err := h.resolver.Resolve(ctx, token)
	switch {
	case latch.IsCode(err, latch.EUNAUTHORIZED):
		return verdict{}, ErrUnauthorized
	case err != nil:
		return verdict{}, fmt.Errorf("lambda: resolving the token (%s): %w", latch.ErrorCode(err), err)
	case p.Kind != latch.SubjectUser && p.Kind != latch.SubjectClient:
		return verdict{}, fmt.Errorf("lambda: the resolver returned a principal of kind %q", p.Kind)
	}
	v := verdict{
		arn:         arn,
		policy:      pol,
		principalID: p.Kind + ":" + p.Org + ":" + p.Sub,
		context: map[string]any{
			ContextSub:      p.Sub,
			ContextSubType:  p.Kind,
			ContextOrg:      p.Org,
			ContextClientID: p.ClientID,
			ContextScope:    strings.Join(p.Scopes, " "),
		},
	}
	out.Principal, out.PrincipalID, out.Decision = p, v.principalID, pol.DecideARN(arn)
	return v, nil
}

// document writes the IAM document of a verdict.
func (h *Handler) document(out *Outcome, v verdict) events.APIGatewayCustomAuthorizerPolicy {
	var r policy.IAMResult
	if h.opts.PerRequest {
		r = v.policy.RequestIAM(v.arn)
	} else {
		r = v.policy.IAM(v.arn, h.opts.Budget)
	}
	out.IAM, out.Decision = &r, r.Decision
	doc := events.APIGatewayCustomAuthorizerPolicy{Version: r.Document.Version}
	for _, st := range r.Document.Statement {
		doc.Statement = append(doc.Statement, events.IAMPolicyStatement{Action: st.Action, Effect: st.Effect, Resource: st.Resource})
	}
	return doc
}

// headerValue returns the one value of the header name (any case), from
// multi when it has the header, else from single; false when it is absent
// or given more than once.
func headerValue(single map[string]string, multi map[string][]string, name string) (string, bool) {
	var vals []string
	for k, vs := range multi {
		if strings.EqualFold(k, name) {
			vals = append(vals, vs...)
		}
	}
	if len(vals) == 0 {
		for k, v := range single {
			if strings.EqualFold(k, name) {
				vals = append(vals, v)
			}
		}
	}
	if len(vals) != 1 {
		return "", false
	}
	return vals[0], true
}
