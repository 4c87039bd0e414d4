package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestItemKinds(t *testing.T) {
	for body, want := range map[string]string{
		`{"TableName":"t","Key":{"pk":{"S":"JTI#abc"},"sk":{"S":"JTI"}}}`:                                                                                   "JTI",
		`{"TableName":"t","Key":{"pk":{"S":"ORG#acme"},"sk":{"S":"USER#5"}}}`:                                                                               "USER",
		`{"TableName":"t","Key":{"pk":{"S":"ORGS"},"sk":{"S":"acme"}}}`:                                                                                     "ORG",
		`{"TableName":"t","Item":{"pk":{"S":"ACCESS#x"},"sk":{"S":"ACCESS"},"data":{"B":"AA=="}}}`:                                                          "ACCESS",
		`{"TransactItems":[{"Put":{"Item":{"pk":{"S":"FAMILY#f"},"sk":{"S":"FAMILY"}}}},{"Update":{"Key":{"pk":{"S":"REFRESH#r"},"sk":{"S":"REFRESH"}}}}]}`: "FAMILY+REFRESH",
		`{"TableName":"t","KeyConditionExpression":"#pk = :pk","ExpressionAttributeValues":{":pk":{"S":"KEYS"}}}`:                                           "KEYS",
		`{"TableName":"t"}`: "",
		`not json`:          "",
	} {
		if got := itemKinds([]byte(body)); got != want {
			t.Errorf("%s: %q, want %q", body, got, want)
		}
	}
}

func TestDDBProxyCounts(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Amz-Crc32", "1")
		_, _ = w.Write(append([]byte("echo:"), b...))
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	proxy := httptest.NewServer(newDDBProxy(u, &opCounter{ops: map[string]int{}}))
	defer proxy.Close()

	body := `{"TableName":"t","Key":{"pk":{"S":"JTI#abc"},"sk":{"S":"JTI"}}}`
	for range 3 {
		req, _ := http.NewRequest(http.MethodPost, proxy.URL+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != "echo:"+body || resp.Header.Get("X-Amz-Crc32") != "1" {
			t.Fatalf("not forwarded untouched: %q %v", got, resp.Header)
		}
	}
	counts, err := fetchDDBCounts(http.DefaultClient, proxy.URL+countsPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 1 || counts["GetItem[JTI]"] != 3 {
		t.Fatalf("counts: %v", counts)
	}
	d := opsDiff(map[string]int{"GetItem[JTI]": 1}, counts)
	if formatOps(d) != "GetItem[JTI]=2" || formatOpsPer(d, 4) != "GetItem[JTI]=0.500" {
		t.Fatalf("%s / %s", formatOps(d), formatOpsPer(d, 4))
	}
}
