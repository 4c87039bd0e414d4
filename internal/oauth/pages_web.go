//go:build !latch.lambda

package oauth

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
)

// hostedLogin is what the browser endpoints need besides the Server: the
// sealer of the values the browser carries, and the parsed templates.
type hostedLogin struct {
	seal  *sealer
	pages *template.Template
}

func newHostedLogin(d Deps) *hostedLogin {
	return &hostedLogin{seal: newSealer(d.Source, d.Clock, d.Log), pages: parsePages()}
}

// registerBrowser adds the routes a browser uses: the authorization
// endpoint, the login pages, logout and the stylesheet. The Lambda build
// (tag latch.lambda) leaves them out, with html/template: executing
// templates makes the linker keep every exported method of every type, which
// costs the bootstrap some 10 MB. Its token function still redeems codes.
func (s *Server) registerBrowser(mux *http.ServeMux) {
	mux.HandleFunc("GET /oauth2/authorize", s.bounded(s.handleAuthorize))
	mux.HandleFunc("POST /oauth2/authorize", s.bounded(s.handleAuthorize))
	mux.HandleFunc("POST /oauth2/login", s.bounded(s.handleLogin))
	mux.HandleFunc("GET /oauth2/logout", s.bounded(s.handleLogout))
	mux.HandleFunc("POST /oauth2/logout", s.bounded(s.handleLogout))
	mux.Handle("GET /oauth2/assets/", assetsHandler())
}

// web holds the hosted login's templates and stylesheet. Pages load
// nothing from elsewhere and run no script.
//
//go:embed web/templates/*.html web/static/*
var web embed.FS

func parsePages() *template.Template {
	return template.Must(template.New("").ParseFS(web, "web/templates/*.html"))
}

// assetsHandler serves web/static under /oauth2/assets/.
func assetsHandler() http.Handler {
	static, err := fs.Sub(web, "web/static")
	if err != nil { // the embed pattern guarantees the directory
		panic(err)
	}
	files := http.StripPrefix("/oauth2/assets/", http.FileServerFS(static))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

// render writes a page with status. formTarget is as for pageHeaders.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, formTarget string, p page) {
	var buf bytes.Buffer
	if err := s.web.pages.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.ErrorContext(r.Context(), "rendering a login page failed", "step", p.Step, "err", err)
		pageHeaders(w, "")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	pageHeaders(w, formTarget)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
