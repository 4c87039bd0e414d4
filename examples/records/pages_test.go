package main

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestPagesEscapeUserText: whatever people type is shown as text, in every
// place a record's fields or a user's names appear.
func TestPagesEscapeUserText(t *testing.T) {
	const evil = `<script>alert("x")</script>`
	rec := Record{Org: "acme", ID: "0000000000000001deadbeef", Title: evil, Text: evil + "\n<img src=x onerror=alert(1)>", Author: evil, Created: time.Now()}
	sess := &session{Username: evil, Org: "acme", CSRF: `"><script>`}
	for _, p := range []page{
		{Title: "Records of acme", View: "list", Org: "acme", Records: []Record{rec}, Error: evil, FormTitle: evil, FormText: evil},
		{Title: evil, View: "record", Org: "acme", Records: []Record{rec}},
		{Title: "Records", View: "home"},
		errorPage("Not allowed", evil),
	} {
		t.Run(p.View, func(t *testing.T) {
			w := httptest.NewRecorder()
			(&App{}).render(w, 200, p, sess)
			body := w.Body.String()
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, body)
			}
			for _, bad := range []string{"<script", "<img", `"><`} {
				if strings.Contains(body, bad) {
					t.Errorf("the page contains %q unescaped:\n%s", bad, body)
				}
			}
			if !strings.Contains(body, "&lt;script&gt;") {
				t.Errorf("the user text is not on the page, escaped:\n%s", body)
			}
		})
	}
}

// TestPagesAreAccessible checks what the list page must have for a
// keyboard, a screen reader and a phone: labelled fields, a viewport, our
// own stylesheet and no script or external resource.
func TestPagesAreAccessible(t *testing.T) {
	w := httptest.NewRecorder()
	(&App{}).render(w, 200, page{Title: "Records of acme", View: "list", Org: "acme"}, &session{Username: "ann", Org: "acme", CSRF: "t"})
	body := w.Body.String()
	for _, want := range []string{`<label for="title">`, `<input id="title" name="title"`, `<label for="text">`, `<textarea id="text" name="text"`,
		`name="viewport"`, `<link rel="stylesheet" href="/style.css">`, `<html lang="en">`, `<input type="hidden" name="csrf" value="t">`} {
		if !strings.Contains(body, want) {
			t.Errorf("the list page lacks %s", want)
		}
	}
	for _, bad := range []string{"<script", "http://", "https://", " style="} {
		if strings.Contains(body, bad) {
			t.Errorf("the list page contains %q", bad)
		}
	}
}
