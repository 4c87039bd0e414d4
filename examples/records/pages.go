package main

import (
	"bytes"
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"time"
)

//go:embed web/pages.html web/style.css
var webFS embed.FS

var (
	pages    = template.Must(template.New("pages.html").Funcs(template.FuncMap{"date": formatDate}).ParseFS(webFS, "web/pages.html"))
	styleCSS = mustRead("web/style.css")
)

func mustRead(name string) []byte {
	b, err := webFS.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return b
}

func formatDate(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") }

// page is what the templates show. Everything in it is escaped by
// html/template; nothing is marked safe.
type page struct {
	Title   string
	View    string // home, list, record or error
	Org     string // the org of the URL
	Records []Record
	Error   string // a problem with the form, shown above it
	// FormTitle and FormText refill the form after a problem.
	FormTitle, FormText string
	Message             string // the error page's text

	Session *session // the signed-in user, or nil
}

func errorPage(title, msg string) page { return page{Title: title, View: "error", Message: msg} }

// render writes p with status. A template error is logged and becomes a
// plain 500: the page is rendered into a buffer first, so nothing half
// written reaches the browser.
func (a *App) render(w http.ResponseWriter, status int, p page, sess *session) {
	p.Session = sess
	var buf bytes.Buffer
	if err := pages.Execute(&buf, p); err != nil {
		log := slog.Default()
		if a != nil && a.cfg.Log != nil {
			log = a.cfg.Log
		}
		log.Error("rendering a page", "view", p.View, "err", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func serveCSS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(styleCSS)
}
