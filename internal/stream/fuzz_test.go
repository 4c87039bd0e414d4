package stream

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzRecord feeds arbitrary records (outside input: anyone who can write
// to the application table shapes them) to the handler. It must not panic,
// and whatever it grants must be exactly the rule's statement with one
// canonical segment for {id}: a record can never widen a grant.
func FuzzRecord(f *testing.F) {
	f.Add([]byte(record(paystubsARN, "INSERT", "1", keys("5", "p1"), nil, stub("5", "p1"))))
	f.Add([]byte(record(paystubsARN, "MODIFY", "2", keys("5", "p1"), stub("5", "p1"), stub("6", "p1"))))
	f.Add([]byte(record(paystubsARN, "REMOVE", "3", keys("5", "p1"), stub("5", "p1"), nil)))
	f.Add([]byte(`{"eventName":"INSERT","eventSourceARN":"` + paystubsARN + `","dynamodb":{"SequenceNumber":"9","Keys":{"id":{"S":"a"}},"NewImage":{"userId":{"N":"5"},"id":{"S":"%2F.."}}}}`))
	s := openStore(f)
	h := newHandler(f, s, paystubRule)
	f.Fuzz(func(t *testing.T, rec []byte) {
		ev, _ := json.Marshal(map[string]any{"Records": []json.RawMessage{rec}})
		if !json.Valid(rec) {
			return
		}
		_, _ = h.Handle(context.Background(), ev)
		for _, id := range []string{"5", "6"} {
			u, err := s.GetUser(context.Background(), "payroll", id)
			if err != nil {
				t.Fatal(err)
			}
			for key, g := range u.RecordGrants {
				if len(g.Deny) != 0 || len(g.Allow) != 1 {
					t.Fatalf("grant %q: %+v", key, g)
				}
				seg, ok := strings.CutPrefix(g.Allow[0], "GET /api/paystubs/")
				if !ok || seg == "" || strings.ContainsAny(seg, "/*{}") || seg == "." || seg == ".." {
					t.Fatalf("grant %q widened the rule: %q", key, g.Allow[0])
				}
			}
		}
	})
}
