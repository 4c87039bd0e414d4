package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"
)

// TestSIGTERMLosesNoAcknowledgedWrite creates users as fast as it can, sends
// SIGTERM in the middle, and checks after a restart that every user whose
// creation was acknowledged (201) exists.
func TestSIGTERMLosesNoAcknowledgedWrite(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	raw, err := os.ReadFile(filepath.Join(data, adminCredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	var creds adminCredentials
	if err := json.Unmarshal(raw, &creds); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(data, adminCredentialsFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin credentials mode %v, want 0600", fi.Mode().Perm())
	}
	admin := func(url string) *http.Client {
		cc := clientcredentials.Config{ClientID: creds.ClientID, ClientSecret: creds.ClientSecret, TokenURL: url + "/oauth2/token", Scopes: []string{"latch/admin"}}
		return cc.Client(context.Background())
	}
	hc := admin(s.URL)
	if _, err := hc.Get(s.URL + "/admin/v1/orgs"); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				body := fmt.Sprintf(`{"id":%q,"username":%q,"password":"a long enough password"}`, id, id)
				resp, err := hc.Post(s.URL+"/admin/v1/orgs/payroll/users", "application/json", strings.NewReader(body))
				if err != nil {
					return // the server is gone
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusCreated {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	_ = s.Signal(syscall.SIGTERM)
	select {
	case <-s.Done():
		if err := s.Err(); err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, s.Stderr())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	close(stop)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged before SIGTERM; the test proves nothing")
	}
	s2 := startServer(t, data)
	hc2 := admin(s2.URL)
	for _, id := range acked {
		resp, err := hc2.Get(s2.URL + "/admin/v1/orgs/payroll/users/" + id)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("acknowledged user %s lost: %d", id, resp.StatusCode)
		}
	}
	t.Logf("%d acknowledged writes survived SIGTERM", len(acked))
}
