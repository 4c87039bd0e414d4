package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"latch.dev/latch"
)

// This file writes a compiled policy as the IAM policy document an API
// Gateway Lambda authorizer returns. API Gateway caches the document (per
// token, or per identity sources) and evaluates it against the ARN of every
// later request, so the document must cover everything the principal may
// call, and it must be SOUND:
//
//	for every method ARN x of the same API and stage, if IAM evaluation of
//	the document allows x, then Decide(method of x, path of x) allows it.
//
// The IAM side is taken at its most permissive, so that the rule holds
// whichever way AWS matches: an Allow resource matches when it matches the
// ARN as one string ('*' any run of characters, '/' and ':' included; '?'
// one character), an explicit Deny only when it also matches colon segment
// by colon segment (the IAM user guide's reading, where only a '*' that ends
// a segment runs past a ':'). The path of x is taken as API Gateway may write
// it, raw ("%37") or decoded ("7"), so both spellings are covered. The rule is
// stated for the methods API Gateway sends and for paths in valid UTF-8 (the
// ARN arrives in a JSON string) without a raw control character or '?':
// neither is possible in a raw request path, only in a decoded one, which
// AWS is not known to produce; DecideARN denies a '?' or '#', and IAM cannot
// write a deny for each control character. TestIAMSound checks the rule on
// random policies and hostile paths.
//
// How each statement is written:
//
//   - "/a/b" is the resource ".../METHOD/a/b"; the root "/" is ".../METHOD/".
//   - "/a/**" is two resources, ".../a" and ".../a/*"; "/**" is ".../METHOD/*".
//   - "/a/*/**" (one or more segments below /a) is ".../a/*", and with k
//     '*' segments before the "**", k "/*": exact, because IAM's '*' crossing
//     '/' is what "**" means anyway. "/*/**" (every path but the root) is
//     ".../METHOD/?*".
//   - An allow naming methods gives one resource per method. An allow of every
//     method is written once per method API Gateway knows (DELETE, GET, HEAD,
//     OPTIONS, PATCH, POST, PUT), because ".../*/a" would also match
//     ".../GET/x/a"; only "* /**" becomes ".../*/*". A deny of every method
//     uses the verb '*' (broader, so sound: "* /admin" also denies "/x/admin").
//     A deny of GET also denies HEAD, as Decide does.
//   - Deny statements go into the Deny statement; a '*' segment becomes '*'
//     (broader than one segment: sound).
//   - When both layers exist, a request must be allowed by both; IAM allows on
//     any match, so the Allow resources are the pairwise intersections of the
//     principal's and the scope's allow statements (exact: "* /api/employee/5/**"
//     and "GET /api/**" give "GET /api/employee/5/**").
//   - Allow statements covered by another one are left out ("GET /e/5/**"
//     beside "GET /e/**").
//
// Guards. Once an Allow resource holds a wildcard it also matches paths the
// engine refuses or reads differently, so the Deny statement then also holds
// these resources below the stage, each an over-denial (sound, and documented
// as the price of a cacheable document):
//
//	*//*  */*/    an empty segment, a trailing slash (the root "METHOD/" matches neither)
//	*/./*  */.     a "." segment
//	*/../*  */..   a ".." segment
//	*%*            any percent escape: an encoded '/', '\', dot or control
//	               character, a bad escape, invalid UTF-8, and every encoded
//	               spelling of a denied name ("%37" for "7")
//	*\*  *#*       a raw '\' or '#'
//	*:*            a ':' (the colon-segment reading above could let an ARN
//	               with a ':' slip past a Deny whose '*' is not last)
//
// and every denied literal with a percent escape ("a%20b") is also denied in
// its decoded spelling ("a b"), the one spelling the "*%*" guard misses.
// Without a wildcard grant only "*:*" may be needed: when an allowed literal
// holds a ':' and a Deny reaches it through an inner '*'.
// So, under a wildcard grant, a path with '%', ':', '\', '#', "//", a
// trailing '/' or a dot segment is answered 403 by the cached document even
// where the engine would allow it. APIs that need such paths use RequestIAM
// (per-request documents) with the cache keyed by method and path, or TTL 0.
//
// Fallback. What cannot be written exactly makes IAM return the per-request
// document of RequestIAM instead (IAMResult.Whole false, Fallback says why):
// an allow with a single-segment '*' followed by anything but '*' or a final
// "**" (IAM's '*' would cross '/'), an allow whose literal segment is "*" (an
// attribute value), too many statements, or a document over the IAMBudget.
// Such an API must key the authorizer cache by method and path (a REQUEST
// authorizer) or set its TTL to 0; the caller logs it.

// IAM document constants.
const (
	IAMVersion = "2012-10-17"
	IAMAction  = "execute-api:Invoke"
)

// MaxIAMResourceLength is API Gateway's limit on one resource ARN in an
// authorizer's policy.
const MaxIAMResourceLength = 512

// Defaults of IAMBudget.
const (
	// DefaultIAMMaxResources bounds the resources of both statements together.
	DefaultIAMMaxResources = 64
	// DefaultIAMMaxBytes bounds the compact JSON of the document: half of the
	// only documented ceiling (8 KB for a WebSocket authorizer's whole
	// result), leaving room for principalId and context. No limit is
	// documented for REST and HTTP APIs; users report rejected documents with
	// a few dozen resources.
	DefaultIAMMaxBytes = 4096
)

// maxIAMEntries bounds the allow statements of a layer, and the pairs of the
// two layers, that IAM compares with each other (quadratic); so many would
// not fit a document unless nearly all were redundant.
const maxIAMEntries = 1024

// apiGatewayMethods are the methods API Gateway sends in a method ARN.
var apiGatewayMethods = []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}

// iamGuards are the Deny resources (after "API/STAGE/") added when an Allow
// resource holds a wildcard; see the comment at the top of this file.
var iamGuards = []string{
	"*//*", "*/*/",
	"*/./*", "*/.",
	"*/../*", "*/..",
	"*%*",
	`*\*`, "*#*",
	"*:*",
}

// ARN is an API Gateway method ARN (a REST methodArn, an HTTP API routeArn):
// arn:PARTITION:execute-api:REGION:ACCOUNT:APIID/STAGE/METHOD/PATH.
type ARN struct {
	Partition string // "aws", "aws-cn", "aws-us-gov", ...
	Region    string
	Account   string
	APIID     string
	Stage     string
	Method    string // the HTTP method
	// Path is "/" followed by everything after "METHOD/", as API Gateway
	// wrote it (it is not canonicalised): the root resource, "METHOD/", is
	// "/".
	Path string
}

// ParseARN parses a method ARN. The path part may hold further '/' and ':'
// (only the first five colons separate fields). Region, account, API id,
// stage and method must be plain names: a wildcard there (such as the stage
// "*" of the console's test invocations) is refused, because resources built
// from it would reach other stages and APIs. Errors are latch.EINVALID.
func ParseARN(s string) (ARN, error) {
	fail := func(msg string) (ARN, error) {
		return ARN{}, latch.Errorf(latch.EINVALID, "method ARN %q: %s", clip(s), msg)
	}
	f := strings.SplitN(s, ":", 6)
	if len(f) != 6 || f[0] != "arn" || f[2] != "execute-api" {
		return fail("want arn:PARTITION:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH")
	}
	a := ARN{Partition: f[1], Region: f[3], Account: f[4]}
	api, rest, ok1 := strings.Cut(f[5], "/")
	stage, rest, ok2 := strings.Cut(rest, "/")
	method, path, ok3 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || !ok3 {
		return fail("want API/STAGE/METHOD/PATH after the account (the root resource ends in METHOD/)")
	}
	a.APIID, a.Stage, a.Method, a.Path = api, stage, method, "/"+path
	if err := a.check(); err != nil {
		return fail(err.Error())
	}
	return a, nil
}

// check reports whether the fields other than Path are plain names.
func (a ARN) check() error {
	switch {
	case a.Partition != "aws" && !(strings.HasPrefix(a.Partition, "aws-") && onlyBytes(a.Partition, "abcdefghijklmnopqrstuvwxyz-")):
		return fmt.Errorf("invalid partition %q", a.Partition)
	case !onlyBytes(a.Region, "abcdefghijklmnopqrstuvwxyz0123456789-"):
		return fmt.Errorf("invalid region %q", a.Region)
	case !onlyBytes(a.Account, "0123456789"):
		return fmt.Errorf("invalid account %q", a.Account)
	case !onlyBytes(a.APIID, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"):
		return fmt.Errorf("invalid API id %q", a.APIID)
	case !onlyBytes(a.Stage, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_$"):
		return fmt.Errorf("invalid stage %q (a wildcard stage would reach other stages)", a.Stage)
	case !onlyBytes(a.Method, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"):
		return fmt.Errorf("invalid method %q", a.Method)
	case a.Path == "" || a.Path[0] != '/':
		return fmt.Errorf("path %q does not start with '/'", a.Path)
	}
	return nil
}

// onlyBytes reports whether s is non-empty and made of bytes from set.
func onlyBytes(s, set string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) < 0 {
			return false
		}
	}
	return true
}

// String returns the ARN as API Gateway writes it; ParseARN(a.String())
// returns a.
func (a ARN) String() string { return a.stagePrefix() + a.Method + a.Path }

// stagePrefix is "arn:PARTITION:execute-api:REGION:ACCOUNT:APIID/STAGE/".
func (a ARN) stagePrefix() string {
	return "arn:" + a.Partition + ":execute-api:" + a.Region + ":" + a.Account + ":" + a.APIID + "/" + a.Stage + "/"
}

// DecideARN decides the request an ARN names. A method ARN carries no query
// string, so a '?' or '#' in its path (a decoded "%3F" or "%23") makes the
// path invalid rather than starting a query as it would for Decide.
func (p *Policy) DecideARN(a ARN) Decision {
	if ValidMethod(a.Method) && strings.ContainsAny(a.Path, "?#") {
		return Decision{Reason: ReasonInvalidPath, Method: a.Method, Path: a.Path, policy: p}
	}
	return p.Decide(a.Method, a.Path)
}

// IAMPolicy is an IAM policy document, with the keys AWS documents (the same
// JSON as aws-lambda-go's events.APIGatewayCustomAuthorizerPolicy).
type IAMPolicy struct {
	Version   string         `json:"Version"`
	Statement []IAMStatement `json:"Statement"`
}

// IAMStatement is one statement of an IAMPolicy.
type IAMStatement struct {
	Action   []string `json:"Action"`
	Effect   string   `json:"Effect"` // "Allow" or "Deny"
	Resource []string `json:"Resource"`
}

// IAMBudget bounds a whole-principal document; a document over it is
// replaced by the per-request one. Zero fields take the defaults
// (DefaultIAMMaxResources, DefaultIAMMaxBytes). The document has at most two
// statements (one Allow, one Deny) whatever the policy; every resource is at
// most MaxIAMResourceLength characters.
type IAMBudget struct {
	MaxResources int // resources of both statements together
	MaxBytes     int // compact JSON of the document
}

func (b IAMBudget) withDefaults() IAMBudget {
	if b.MaxResources <= 0 {
		b.MaxResources = DefaultIAMMaxResources
	}
	if b.MaxBytes <= 0 {
		b.MaxBytes = DefaultIAMMaxBytes
	}
	return b
}

// IAMResult is a document and what it covers.
type IAMResult struct {
	Document IAMPolicy
	// Whole reports that Document covers every request of the principal
	// on the API's stage, so a cached copy is right for every later path
	// and method. When false it covers only the requested ARN: the API
	// must key the authorizer cache by method and path (a REQUEST
	// authorizer) or set its TTL to 0.
	Whole bool
	// Fallback says why a whole document was not written; empty when Whole
	// or when RequestIAM was asked for.
	Fallback string
	// Decision is the engine's decision for the requested ARN.
	Decision Decision
	// DocumentAllows reports whether IAM evaluation of Document allows the
	// requested ARN. With a whole document it can be false where
	// Decision.Allowed is true: the request hit a guard (see IAM), which the
	// caller may log.
	DocumentAllows bool
	// Bytes is the size of Document as compact JSON.
	Bytes int
}

// IAM returns the document for the principal's whole policy on the stage of
// req (its partition, region, account, API id and stage; never wildcards
// there), or, when that cannot be written soundly and exactly or would pass
// budget, the per-request document of RequestIAM with Fallback saying why.
// The rules, the guards and the soundness argument are described at the top
// of iam.go. A nil policy gets a document denying everything.
func (p *Policy) IAM(req ARN, budget IAMBudget) IAMResult {
	if err := req.check(); err != nil {
		r := p.RequestIAM(req)
		r.Fallback = "invalid ARN: " + err.Error()
		return r
	}
	b := budget.withDefaults()
	allow, deny, why := p.iamResources(req.stagePrefix())
	if why == "" {
		switch n := len(allow) + len(deny); {
		case n > b.MaxResources:
			why = fmt.Sprintf("the document would have %d resources (budget %d)", n, b.MaxResources)
		default:
			for _, r := range slices.Concat(allow, deny) {
				if len(r) > MaxIAMResourceLength {
					why = fmt.Sprintf("a resource would be %d characters (API Gateway's limit is %d)", len(r), MaxIAMResourceLength)
					break
				}
			}
		}
	}
	if why != "" {
		r := p.RequestIAM(req)
		r.Fallback = why
		return r
	}
	doc := IAMPolicy{Version: IAMVersion}
	if len(allow) > 0 {
		doc.Statement = append(doc.Statement, IAMStatement{Action: []string{IAMAction}, Effect: "Allow", Resource: allow})
	}
	if len(deny) > 0 || len(allow) == 0 {
		if len(allow) == 0 {
			deny = []string{req.stagePrefix() + "*"} // nothing is allowed: say so, an empty document is an error
		}
		doc.Statement = append(doc.Statement, IAMStatement{Action: []string{IAMAction}, Effect: "Deny", Resource: deny})
	}
	n := docBytes(doc)
	if n > b.MaxBytes {
		r := p.RequestIAM(req)
		r.Fallback = fmt.Sprintf("the document would be %d bytes (budget %d)", n, b.MaxBytes)
		return r
	}
	return IAMResult{
		Document: doc, Whole: true, Decision: p.DecideARN(req),
		DocumentAllows: iamAllows(doc, req.String()), Bytes: n,
	}
}

// RequestIAM returns the document for the requested ARN alone: Allow of that
// ARN when the engine allows it, Deny otherwise. It allows only that exact
// ARN (a path holding '*' or '?', which IAM would read as wildcards, an ARN
// over MaxIAMResourceLength, and one that is not valid UTF-8 are denied), so
// it is sound for every ARN, but
// a cached copy is wrong for every other path: use it with a cache keyed by
// method and path, or TTL 0.
func (p *Policy) RequestIAM(req ARN) IAMResult {
	d := p.DecideARN(req)
	arn := req.String()
	// Never allow a resource that IAM would read as a pattern, or that JSON
	// would rewrite (invalid UTF-8 becomes U+FFFD, another path).
	allow := d.Allowed && req.check() == nil && !strings.ContainsAny(req.Path, "*?") &&
		len(arn) <= MaxIAMResourceLength && utf8.ValidString(arn)
	st := IAMStatement{Action: []string{IAMAction}, Effect: "Deny", Resource: []string{arn}}
	if allow {
		st.Effect = "Allow"
	} else if len(arn) > MaxIAMResourceLength {
		cut := MaxIAMResourceLength - 1
		for cut > 0 && !utf8.RuneStart(arn[cut]) {
			cut--
		}
		st.Resource = []string{arn[:cut] + "*"}
	}
	doc := IAMPolicy{Version: IAMVersion, Statement: []IAMStatement{st}}
	return IAMResult{Document: doc, Decision: d, DocumentAllows: allow, Bytes: docBytes(doc)}
}

func docBytes(doc IAMPolicy) int {
	b, err := json.Marshal(doc)
	if err != nil { // strings and slices only: cannot happen
		panic(err)
	}
	return len(b)
}

// iamEntry is an allow statement (or the intersection of two) on its way to
// resources.
type iamEntry struct {
	methods []string // nil: every method
	segs    []Segment
	src     string // for Fallback messages
}

// iamResources returns the Allow and Deny resources of the whole document,
// or why it cannot be written. prefix is ARN.stagePrefix().
func (p *Policy) iamResources(prefix string) (allow, deny []string, why string) {
	if p == nil || !p.principalLayer && !p.scopeLayer {
		return nil, nil, ""
	}
	var layers [2][]iamEntry
	var denies []Rule
	for _, r := range p.rules {
		switch {
		case r.Effect == Deny:
			denies = append(denies, r)
		case r.Layer == LayerPrincipal:
			layers[0] = append(layers[0], iamEntry{methods: r.Methods(), segs: r.Segments(), src: r.String()})
		default:
			layers[1] = append(layers[1], iamEntry{methods: r.Methods(), segs: r.Segments(), src: r.String()})
		}
	}
	for i := range layers {
		if len(layers[i]) > maxIAMEntries {
			return nil, nil, fmt.Sprintf("%d allow statements: too many to write as one document", len(layers[i]))
		}
		layers[i] = reduceEntries(layers[i])
	}
	var entries []iamEntry
	switch {
	case p.principalLayer && p.scopeLayer:
		if len(layers[0])*len(layers[1]) > maxIAMEntries {
			return nil, nil, fmt.Sprintf("%d principal and %d scope statements: too many to intersect", len(layers[0]), len(layers[1]))
		}
		for _, a := range layers[0] {
			for _, b := range layers[1] {
				if e, ok := intersectEntries(a, b); ok {
					entries = append(entries, e)
				}
			}
		}
		entries = reduceEntries(entries)
	case p.principalLayer:
		entries = layers[0]
	default:
		entries = layers[1]
	}
	if len(entries) == 0 {
		return nil, nil, "" // nothing allowed: the caller denies the stage
	}

	seen := map[*[]string]map[string]bool{&allow: {}, &deny: {}}
	add := func(list *[]string, r string) {
		if !seen[list][r] {
			seen[list][r] = true
			*list = append(*list, r)
		}
	}
	wildcard, colonLiteral := false, false
	for _, e := range entries {
		paths, wild, msg := allowPaths(e.segs)
		if msg != "" {
			return nil, nil, e.src + ": " + msg
		}
		wildcard = wildcard || wild
		for _, path := range paths {
			colonLiteral = colonLiteral || !wild && strings.Contains(path, ":")
		}
		methods := e.methods
		if methods == nil {
			methods = apiGatewayMethods
			if len(e.segs) == 1 && e.segs[0].Glob {
				methods = []string{"*"} // "* /**": everything on the stage
			}
		}
		for _, m := range methods {
			for _, path := range paths {
				add(&allow, prefix+m+path)
			}
		}
	}

	innerStar := false
	for _, r := range denies {
		methods := r.Methods()
		switch {
		case methods == nil:
			methods = []string{"*"}
		case slices.Contains(methods, "GET") && !slices.Contains(methods, "HEAD"):
			methods = append(slices.Clone(methods), "HEAD")
		}
		for _, path := range denyPaths(r.Segments(), wildcard) {
			inner := strings.TrimSuffix(path, "/*")
			innerStar = innerStar || strings.ContainsAny(inner, "*?")
			for _, m := range methods {
				add(&deny, prefix+m+path)
			}
		}
	}
	switch {
	case wildcard:
		for _, g := range iamGuards {
			add(&deny, prefix+g)
		}
	case colonLiteral && innerStar:
		// An allowed literal with a ':' that a Deny reaches only through a
		// '*' inside it: deny colons (the allow is lost; sound).
		add(&deny, prefix+"*:*")
	}
	return allow, deny, ""
}

// allowPaths returns the resource paths of an allow statement's segments
// ("/a/b", "/a", "/a/*", "/" or "/*"), whether they hold a wildcard, or why
// they cannot be written.
func allowPaths(segs []Segment) (paths []string, wildcard bool, why string) {
	var b strings.Builder
	i := 0
	for ; i < len(segs) && segs[i].Literal != ""; i++ {
		if strings.ContainsAny(segs[i].Literal, "*?") {
			return nil, false, fmt.Sprintf("the literal segment %q would be a wildcard in IAM", segs[i].Literal)
		}
		b.WriteByte('/')
		b.WriteString(segs[i].Literal)
	}
	base := b.String()
	stars := 0
	for ; i < len(segs) && segs[i].Star; i++ {
		stars++
	}
	switch {
	case i == len(segs) && stars == 0: // literals only
		if base == "" {
			return []string{"/"}, false, ""
		}
		return []string{base}, false, ""
	case i == len(segs)-1 && segs[i].Glob && stars == 0: // "/a/**"
		if base == "" {
			return []string{"/*"}, true, ""
		}
		return []string{base, base + "/*"}, true, ""
	case i == len(segs)-1 && segs[i].Glob && base == "" && stars == 1:
		// "/*/**" is every path but the root, which ".../METHOD/*" would
		// match too ('*' matches nothing); '?' asks for one character.
		return []string{"/?*"}, true, ""
	case i == len(segs)-1 && segs[i].Glob: // "/a/*/**": at least `stars` segments below
		// Where a '*' matches nothing, the path has an empty segment or a
		// trailing slash, which the guards deny.
		return []string{base + strings.Repeat("/*", stars)}, true, ""
	}
	return nil, false, "a single-segment '*' not followed by \"**\" cannot be written in IAM, whose '*' crosses '/'"
}

// denyPaths returns the resource paths of a deny statement's segments: '*'
// for a single segment (broader: sound), "/a" and "/a/*" for "/a/**"; with
// decoded, also the spelling with every literal's percent escapes decoded.
func denyPaths(segs []Segment, decoded bool) []string {
	write := func(decode bool) []string {
		var b strings.Builder
		for _, g := range segs {
			switch {
			case g.Glob:
				base := b.String()
				if base == "" {
					return []string{"/*"}
				}
				return []string{base, base + "/*"}
			case g.Star:
				b.WriteString("/*")
			case decode:
				b.WriteByte('/')
				b.WriteString(percentDecode(g.Literal))
			default:
				b.WriteByte('/')
				b.WriteString(g.Literal)
			}
		}
		if b.Len() == 0 {
			return []string{"/"}
		}
		return []string{b.String()}
	}
	out := write(false)
	if decoded && slices.ContainsFunc(segs, func(g Segment) bool { return strings.IndexByte(g.Literal, '%') >= 0 }) {
		out = append(out, write(true)...)
	}
	return out
}

// percentDecode decodes the escapes of a canonical segment (which are all
// valid, upper-case, and decode to valid UTF-8).
func percentDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// reduceEntries drops the entries another entry covers (of two equal ones,
// the later).
func reduceEntries(es []iamEntry) []iamEntry {
	keep := make([]bool, len(es))
	for i := range keep {
		keep[i] = true
	}
	for i := range es {
		for j := range es {
			if i == j || !keep[j] || !entryCovers(es[j], es[i]) {
				continue
			}
			if j < i || !entryCovers(es[i], es[j]) {
				keep[i] = false
				break
			}
		}
	}
	out := es[:0:0]
	for i, e := range es {
		if keep[i] {
			out = append(out, e)
		}
	}
	return out
}

// entryCovers reports whether f allows every request e allows.
func entryCovers(f, e iamEntry) bool {
	if f.methods != nil && (e.methods == nil || slices.ContainsFunc(e.methods, func(m string) bool { return !slices.Contains(f.methods, m) })) {
		return false
	}
	fn, fg := globSplit(f.segs)
	en, eg := globSplit(e.segs)
	switch {
	case fg && len(en) < len(fn):
		return false
	case !fg && (eg || len(en) != len(fn)):
		return false
	}
	for i, g := range fn {
		if !g.Star && (en[i].Star || en[i].Literal != g.Literal) {
			return false
		}
	}
	return true
}

// globSplit returns the segments before a final "**", and whether there is
// one.
func globSplit(segs []Segment) ([]Segment, bool) {
	if n := len(segs); n > 0 && segs[n-1].Glob {
		return segs[:n-1], true
	}
	return segs, false
}

// intersectEntries returns the entry allowing exactly the requests both a
// and b allow, and false when there is none.
func intersectEntries(a, b iamEntry) (iamEntry, bool) {
	var methods []string
	switch {
	case a.methods == nil:
		methods = b.methods
	case b.methods == nil:
		methods = a.methods
	default:
		methods = []string{}
		for _, m := range a.methods {
			if slices.Contains(b.methods, m) {
				methods = append(methods, m)
			}
		}
		if len(methods) == 0 {
			return iamEntry{}, false
		}
	}
	an, ag := globSplit(a.segs)
	bn, bg := globSplit(b.segs)
	switch {
	case !ag && !bg && len(an) != len(bn),
		ag && !bg && len(bn) < len(an),
		bg && !ag && len(an) < len(bn):
		return iamEntry{}, false
	}
	segs := make([]Segment, 0, max(len(an), len(bn))+1)
	for i := range min(len(an), len(bn)) {
		x, y := an[i], bn[i]
		switch {
		case x.Star:
			segs = append(segs, y)
		case y.Star, x.Literal == y.Literal:
			segs = append(segs, x)
		default:
			return iamEntry{}, false
		}
	}
	if len(an) > len(bn) {
		segs = append(segs, an[len(bn):]...)
	} else {
		segs = append(segs, bn[len(an):]...)
	}
	if ag && bg {
		segs = append(segs, Segment{Glob: true})
	}
	return iamEntry{methods: methods, segs: segs, src: a.src + " and " + b.src}, true
}

// iamAllows evaluates doc for one ARN: an explicit Deny wins, then an Allow,
// else deny. Resources match the ARN as one string.
func iamAllows(doc IAMPolicy, arn string) bool {
	allowed := false
	for _, st := range doc.Statement {
		for _, r := range st.Resource {
			if !MatchIAMResource(r, arn) {
				continue
			}
			if st.Effect == "Deny" {
				return false
			}
			allowed = true
		}
	}
	return allowed
}

// MatchIAMResource reports whether an IAM resource pattern matches an ARN
// the way IAM matches them: '*' matches any run of characters, '/' and ':'
// included, and '?' exactly one character. Whatever evaluates a cached
// authorizer policy per request (a local gateway, the tests) uses it.
func MatchIAMResource(pattern, s string) bool {
	px, sx := 0, 0
	star, back := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && pattern[px] == '*':
			star, back = px, sx
			px++
		case px < len(pattern) && pattern[px] == '?':
			_, n := utf8.DecodeRuneInString(s[sx:])
			px, sx = px+1, sx+n
		case px < len(pattern) && pattern[px] == s[sx]:
			px, sx = px+1, sx+1
		case star >= 0:
			_, n := utf8.DecodeRuneInString(s[back:])
			back += n
			px, sx = star+1, back
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}
