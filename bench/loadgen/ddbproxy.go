package main

// The ddb-proxy subcommand: a reverse proxy in front of a local DynamoDB
// server (DynamoDB Local) that counts the requests passing through it by
// operation, so that a benchmark can say how many DynamoDB requests a token
// or a decision costs without instrumenting the server:
//
//	loadgen ddb-proxy -listen 127.0.0.1:0 -upstream http://127.0.0.1:8000
//
// It prints "ddb-proxy listening on http://ADDR" once it accepts
// connections. Every DynamoDB API call is a POST whose X-Amz-Target header
// names the operation ("DynamoDB_20120810.GetItem"); the proxy counts it
// under "GetItem[JTI]" (the operation and the kind of item, see itemKinds)
// and forwards request and response untouched (the SDK
// checks the response's X-Amz-Crc32). GET /_ddbproxy/counts returns the
// counts so far as a JSON object; loadgen -ddb-counts reads it at both edges
// of the measured window. Like the load generator it only listens on and
// forwards to loopback addresses.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// countsPath is where the proxy serves its counts.
const countsPath = "/_ddbproxy/counts"

// opCounter counts requests by operation.
type opCounter struct {
	mu  sync.Mutex
	ops map[string]int
}

func (c *opCounter) add(op string) {
	c.mu.Lock()
	c.ops[op]++
	c.mu.Unlock()
}

func (c *opCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.ops)
}

// operation is the operation an X-Amz-Target names ("" if none).
func operation(target string) string {
	if target == "" {
		return ""
	}
	if i := strings.LastIndexByte(target, '.'); i >= 0 {
		return target[i+1:]
	}
	return target
}

// newDDBProxy returns the counting proxy's handler.
func newDDBProxy(upstream *url.URL, counts *opCounter) http.Handler {
	rp := httputil.NewSingleHostReverseProxy(upstream)
	rp.Transport = &http.Transport{
		Proxy:               nil,
		DialContext:         loopbackDialer().DialContext,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == countsPath {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(counts.snapshot())
			return
		}
		op := operation(r.Header.Get("X-Amz-Target"))
		if op == "" {
			op = "(other)"
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if kinds := itemKinds(body); kinds != "" {
			op += "[" + kinds + "]"
		}
		counts.add(op)
		rp.ServeHTTP(w, r)
	})
}

// itemKinds names the kinds of Latch items a request reads or writes, from
// their keys: USER for USER#5 in ORG#acme, CLIENT in CLIENT#reader, ORG for
// acme in ORGS; a transaction's kinds joined by "+"; a Query's partition.
// It only labels the counts: a body it cannot read counts without a label.
func itemKinds(body []byte) string {
	type key struct {
		PK struct{ S string } `json:"pk"`
		SK struct{ S string } `json:"sk"`
	}
	type one struct {
		Key  *key
		Item *key
	}
	var req struct {
		one
		TransactItems             []map[string]one
		ExpressionAttributeValues map[string]struct{ S string }
	}
	if json.Unmarshal(body, &req) != nil {
		return ""
	}
	kind := func(o one) string {
		k := o.Key
		if k == nil {
			k = o.Item
		}
		if k == nil {
			return "?"
		}
		if kind, _, ok := strings.Cut(k.SK.S, "#"); ok {
			return kind
		}
		if kind, _, ok := strings.Cut(k.PK.S, "#"); ok {
			return kind
		}
		return strings.TrimSuffix(k.PK.S, "S")
	}
	switch {
	case req.Key != nil || req.Item != nil:
		return kind(req.one)
	case req.TransactItems != nil:
		var ks []string
		for _, ti := range req.TransactItems {
			for _, o := range ti {
				ks = append(ks, kind(o))
			}
		}
		return strings.Join(ks, "+")
	case req.ExpressionAttributeValues != nil:
		return req.ExpressionAttributeValues[":pk"].S
	}
	return ""
}

func loopbackDialer() *net.Dialer {
	return &net.Dialer{
		Timeout:   5 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("refusing to connect to %s: not a loopback address", address)
			}
			return nil
		},
	}
}

// runDDBProxy runs the ddb-proxy subcommand until ctx is done (SIGINT,
// SIGTERM).
func runDDBProxy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadgen ddb-proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "listen address (loopback only)")
	rawUp := fs.String("upstream", "", "the DynamoDB server's URL, e.g. http://127.0.0.1:8000 (loopback only)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %q", fs.Args())
	}
	up, err := loopbackURL("-upstream", *rawUp)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return usagef("-listen: %v", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usagef("-listen: %q is not a loopback address", *listen)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	counts := &opCounter{ops: map[string]int{}}
	srv := &http.Server{Handler: newDDBProxy(up, counts), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "ddb-proxy listening on http://%s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// loopbackURL parses an http URL whose host must be loopback.
func loopbackURL(flagName, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, usagef("%s is required", flagName)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, usagef("%s: %v", flagName, err)
	}
	if u.Scheme != "http" {
		return nil, usagef("%s: scheme must be http, not %q", flagName, u.Scheme)
	}
	switch u.Hostname() {
	case "127.0.0.1", "::1", "localhost":
	default:
		return nil, usagef("%s: host %q is not loopback", flagName, u.Hostname())
	}
	return u, nil
}

// fetchDDBCounts reads a ddb-proxy's counts.
func fetchDDBCounts(client *http.Client, countsURL string) (map[string]int, error) {
	resp, err := client.Get(countsURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d", countsURL, resp.StatusCode)
	}
	var m map[string]int
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %v", countsURL, err)
	}
	return m, nil
}

// opsDiff returns after - before, without zero entries.
func opsDiff(before, after map[string]int) map[string]int {
	d := map[string]int{}
	for k, v := range after {
		if n := v - before[k]; n != 0 {
			d[k] = n
		}
	}
	return d
}

// formatOps writes counts as "GetItem=12 Query=1", sorted by operation.
func formatOps(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// formatOpsPer writes counts divided by n: "GetItem[JTI]=1.000".
func formatOpsPer(m map[string]int, n int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%.3f", k, float64(m[k])/float64(n)))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}
