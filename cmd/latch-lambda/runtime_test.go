package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// fakeRuntime is the Lambda Runtime API (2018-06-01) as far as a bootstrap
// uses it: next, response, error and init/error.
type fakeRuntime struct {
	srv  *httptest.Server
	next chan invocation
	done chan struct{}

	mu      sync.Mutex
	pending map[string]chan result
	seq     int
	initErr []string
}

type invocation struct {
	id      string
	payload []byte
}

// result is a handler's response, or its error message.
type result struct {
	body     []byte
	errorMsg string
}

func newFakeRuntime(t *testing.T) *fakeRuntime {
	f := &fakeRuntime{next: make(chan invocation), done: make(chan struct{}), pending: map[string]chan result{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		select {
		case inv := <-f.next:
			h := w.Header()
			h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
			h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
			h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:111122223333:function:latch-test")
			h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(inv.payload)
		case <-r.Context().Done():
		case <-f.done:
		}
	})
	deliver := func(id string, res result) {
		f.mu.Lock()
		ch := f.pending[id]
		delete(f.pending, id)
		f.mu.Unlock()
		if ch != nil {
			ch <- res
		}
	}
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		deliver(r.PathValue("id"), result{body: b})
	})
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var e struct {
			ErrorMessage string `json:"errorMessage"`
		}
		_ = json.Unmarshal(b, &e)
		w.WriteHeader(http.StatusAccepted)
		if e.ErrorMessage == "" {
			e.ErrorMessage = "(no errorMessage) " + string(b)
		}
		deliver(r.PathValue("id"), result{errorMsg: e.ErrorMessage})
	})
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.initErr = append(f.initErr, string(b))
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		close(f.done)
		f.srv.CloseClientConnections()
		f.srv.Close()
	})
	return f
}

// addr is what AWS_LAMBDA_RUNTIME_API takes: host:port, no scheme.
func (f *fakeRuntime) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

// invoke queues an event and waits for its result.
func (f *fakeRuntime) invoke(t *testing.T, payload string) result {
	t.Helper()
	f.mu.Lock()
	f.seq++
	id := fmt.Sprintf("req-%d", f.seq)
	ch := make(chan result, 1)
	f.pending[id] = ch
	f.mu.Unlock()
	timeout := time.After(30 * time.Second)
	select {
	case f.next <- invocation{id: id, payload: []byte(payload)}:
	case <-timeout:
		t.Fatalf("the bootstrap did not ask for the next event (init errors: %v)", f.initErr)
	}
	select {
	case r := <-ch:
		return r
	case <-timeout:
		t.Fatalf("no result for %s", id)
	}
	return result{}
}

// startBootstrap runs the built bootstrap under a fresh fake runtime.
func startBootstrap(t *testing.T, bin string, env ...string) *fakeRuntime {
	t.Helper()
	rt := newFakeRuntime(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), append(env, "AWS_LAMBDA_RUNTIME_API="+rt.addr(), "AWS_LAMBDA_FUNCTION_NAME=latch-test")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Registered after the runtime's cleanup, so it runs first: the
	// process never exits by itself.
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("bootstrap stderr:\n%s", stderr.String())
		}
	})
	return rt
}

// buildBootstrap builds the binary as it is deployed.
func buildBootstrap(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc,latch.lambda", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBootstrapUnknownHandler: a missing or unknown handler name is fatal.
func TestBootstrapUnknownHandler(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bootstrap")
	}
	bin := buildBootstrap(t)
	for _, h := range []string{"", "stream-ish"} {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "LATCH_LAMBDA_HANDLER="+h, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:1")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "LATCH_LAMBDA_HANDLER") {
			t.Errorf("handler %q: %v %s", h, err, out)
		}
	}
}

// TestBootstrapDynamoDB runs the built bootstrap, as the token and as the
// authorizer function, under a fake Runtime API, on a DynamoDB Local table
// (internal/store/dynamodb/testdata/run-local.sh runs it).
func TestBootstrapDynamoDB(t *testing.T) {
	lt := newLocalTable(t, "latch-lambda")
	seed(t, lt.store)

	bin := buildBootstrap(t)
	env := lt.functionEnv()
	tokenFn := startBootstrap(t, bin, append(env, "LATCH_LAMBDA_HANDLER=token")...)
	authzFn := startBootstrap(t, bin, append(env, "LATCH_LAMBDA_HANDLER=authorizer")...)

	// client_credentials through the token function (REST proxy event).
	res := tokenFn.invoke(t, tokenRESTEvent())
	if res.errorMsg != "" {
		t.Fatalf("token function: %s", res.errorMsg)
	}
	var rest events.APIGatewayProxyResponse
	if err := json.Unmarshal(res.body, &rest); err != nil {
		t.Fatal(err)
	}
	tok := accessToken(t, rest.StatusCode, rest.Body)
	// The same through an HTTP API / function URL event.
	res = tokenFn.invoke(t, tokenV2Event())
	var v2 events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(res.body, &v2); err != nil {
		t.Fatalf("%v: %s %s", err, res.body, res.errorMsg)
	}
	accessToken(t, v2.StatusCode, v2.Body)

	// The authorizer function allows the token's requests...
	tokEv, reqEv, httpEv := authorizerEvents(tok)
	for name, ev := range map[string]string{"TOKEN": tokEv, "REQUEST": reqEv} {
		res := authzFn.invoke(t, ev)
		if res.errorMsg != "" {
			t.Fatalf("%s: %s", name, res.errorMsg)
		}
		checkAllow(t, res.body, testMethodARN)
	}
	if res := authzFn.invoke(t, httpEv); res.errorMsg != "" || !strings.Contains(string(res.body), `"isAuthorized":true`) {
		t.Fatalf("HTTP API: %s %s", res.body, res.errorMsg)
	}
	// ...and refuses a garbage token with exactly "Unauthorized" (401).
	gTok, gReq, gHTTP := authorizerEvents("garbage.token.here")
	for _, ev := range []string{gTok, gReq, gHTTP} {
		if res := authzFn.invoke(t, ev); res.errorMsg != "Unauthorized" {
			t.Fatalf("garbage token: %q %s", res.errorMsg, res.body)
		}
	}
}
