package console

import (
	"bytes"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

//go:embed web/templates/*.html web/static/*
var web embed.FS

func parsePages() *template.Template {
	funcs := template.FuncMap{
		"join":  strings.Join,
		"lines": func(v []string) string { return strings.Join(v, "\n") },
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
		"has": slices.Contains[[]string],
		"attrs": func(m map[string][]string) string {
			var b strings.Builder
			for _, k := range slices.Sorted(maps.Keys(m)) {
				for _, v := range m[k] {
					b.WriteString(k + "=" + v + "\n")
				}
			}
			return b.String()
		},
		"scopeLines": func(m map[string][]string) string {
			var b strings.Builder
			for _, k := range slices.Sorted(maps.Keys(m)) {
				if len(m[k]) == 0 {
					b.WriteString(k + ":\n")
				}
				for _, st := range m[k] {
					b.WriteString(k + ": " + st + "\n")
				}
			}
			return b.String()
		},
	}
	return template.Must(template.New("").Funcs(funcs).ParseFS(web, "web/templates/*.html"))
}

// view is what every page template gets.
type view struct {
	Title    string
	Base     string // the console's URL path, e.g. /console
	Session  session
	Org      string // the organization the page is about, if any
	Section  string // the navigation entry to mark current
	Notice   string
	Error    string
	Problems []string
	Data     any
	Form     url.Values // what was submitted, to show again after an error
	SignOut  string     // on a message page: a link that signs out of Latch
}

func (v view) Value(name string) string { return v.Form.Get(name) }

// Pick is what a form field shows: what was submitted when the page is shown
// again after an error (so that nothing typed is lost), else stored.
func (v view) Pick(name, stored string) string {
	if v.Form != nil {
		return v.Form.Get(name)
	}
	return stored
}

// Checked is Pick for a checkbox.
func (v view) Checked(name string, stored bool) bool {
	if v.Form != nil {
		return v.Form.Get(name) != ""
	}
	return stored
}

// routes registers every console page. Requests arrive without the issuer's
// path (a proxy in front strips it, as for every other endpoint); links and
// redirects, which the browser follows, carry it.
//
// routes registers every console page. GET shows a page; POST to the same
// path changes something, with the form's "action" naming what, and then
// redirects back to the page (post/redirect/get).
func (c *Console) routes() {
	m := http.NewServeMux()
	static, err := fs.Sub(web, "web/static")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	assets := http.StripPrefix("/console/assets/", http.FileServerFS(static))
	m.HandleFunc("GET /console/assets/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		assets.ServeHTTP(w, r)
	})
	m.HandleFunc("GET /console/callback", c.callback)
	m.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, c.link("/"), http.StatusSeeOther)
	})
	page := func(pattern string, get, post handler) {
		m.Handle("GET "+pattern, c.signedIn(get))
		if post != nil {
			m.Handle("POST "+pattern, c.signedIn(c.checked(post)))
		}
	}
	page("/console/{$}", c.home, c.homePost)
	m.Handle("POST /console/signout", c.signedIn(c.checked(c.signOut)))
	page("/console/audiences", c.audiences, c.audiencesPost)
	page("/console/audiences/{id}", c.audience, c.audiencePost)
	page("/console/orgs/{org}", c.org, c.orgPost)
	page("/console/orgs/{org}/users", c.users, c.usersPost)
	page("/console/orgs/{org}/users/{id}", c.user, c.userPost)
	page("/console/orgs/{org}/clients", c.clients, c.clientsPost)
	page("/console/orgs/{org}/clients/{id}", c.client, c.clientPost)
	page("/console/orgs/{org}/roles", c.roles, c.rolesPost)
	page("/console/orgs/{org}/roles/{id}", c.role, c.rolePost)
	page("/console/orgs/{org}/test", c.test, c.testPost)
	m.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		c.message(w, r, http.StatusNotFound, "Not found", "There is no such page in the console.")
	})
	c.mux = m
}

type handler func(w http.ResponseWriter, r *http.Request, s session)

// signedIn runs h with the administrator's session, or sends the browser to
// sign in first (and back to this page afterwards).
func (c *Console) signedIn(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.currentSession(r)
		if !ok {
			c.startLogin(w, r, c.base+r.URL.Path)
			return
		}
		h(w, r, s)
	})
}

// checked reads a POSTed form and refuses it unless it carries the
// session's CSRF value (a cross-site page cannot read it from the sealed
// cookie or from the console's pages). The cookies are SameSite=Lax as well,
// so a cross-site POST does not even carry the session.
func (c *Console) checked(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, s session) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			c.message(w, r, http.StatusBadRequest, "Form not accepted", "The form could not be read.")
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.CSRF)) != 1 {
			c.message(w, r, http.StatusForbidden, "Form not accepted", "This form has expired. Go back, reload the page and try again.")
			return
		}
		h(w, r, s)
	}
}

// pageHeaders forbid scripts, framing and caching; forms post only to the
// console itself.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	v.Base = c.base + "/console"
	var buf bytes.Buffer
	if err := c.pages.ExecuteTemplate(&buf, name, v); err != nil {
		c.opts.Log.ErrorContext(r.Context(), "rendering a console page failed", "page", name, "err", err)
		pageHeaders(w)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("internal error"))
		return
	}
	pageHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// message shows a page with one sentence.
func (c *Console) message(w http.ResponseWriter, r *http.Request, status int, title, text string) {
	s, _ := c.currentSession(r)
	c.render(w, r, status, "message", view{Title: title, Session: s, Error: text})
}

// fail reports an error that is not the administrator's doing.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	c.opts.Log.ErrorContext(r.Context(), "console request failed", "path", r.URL.Path, "err", err)
	c.message(w, r, http.StatusServiceUnavailable, "Something went wrong", "Latch could not complete this request. Try again in a moment.")
}

// apiFailed handles an admin API refusal for a page: a token that no longer
// works means signing in again; anything else is shown on the page (by
// show, with the status and message) or, for a page that could not be
// read at all, as a message.
func (c *Console) apiFailed(w http.ResponseWriter, r *http.Request, err error, show func(status int, msg string, problems []string)) {
	var ae *apiError
	if !errors.As(err, &ae) {
		c.fail(w, r, err)
		return
	}
	switch {
	case ae.Status == http.StatusUnauthorized:
		// Expired or revoked: sign in again (silently, while the login
		// session lasts), back to the page.
		c.setCookie(w, sessionCookie, "", 0)
		back := c.base + r.URL.Path
		c.startLogin(w, r, back)
	case ae.Status >= 500:
		c.fail(w, r, err)
	case show == nil:
		title := "Not available"
		if ae.Status == http.StatusNotFound {
			title = "Not found"
		}
		c.message(w, r, ae.Status, title, ae.Message)
	default:
		show(ae.Status, ae.Message, ae.Errors)
	}
}

// done redirects back to the page after a change, with a notice.
func (c *Console) done(w http.ResponseWriter, r *http.Request, to, notice string) {
	http.Redirect(w, r, to+"?done="+url.QueryEscape(notice), http.StatusSeeOther)
}

// notices are the only texts a ?done= parameter can show.
var notices = map[string]string{
	"created": "Created.", "saved": "Saved.", "deleted": "Deleted.", "revoked": "Revoked.",
}

func notice(r *http.Request) string { return notices[r.URL.Query().Get("done")] }

// --- form helpers ---

// words splits a list typed with commas, spaces or newlines.
func words(s string) []string {
	out := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	if len(out) == 0 {
		return nil
	}
	return out
}

// lines splits a textarea into its non-empty lines.
func lines(s string) []string {
	var out []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// attributes parses "name=value" lines; a name may repeat.
func attributes(s string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, l := range lines(s) {
		k, v, ok := strings.Cut(l, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, errors.New("attributes are lines of name=value")
		}
		out[strings.TrimSpace(k)] = append(out[strings.TrimSpace(k)], strings.TrimSpace(v))
	}
	return out, nil
}

// scopeStatements parses "scope: statement" lines (a line "scope:" alone
// declares a scope that permits nothing more).
func scopeStatements(s string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, l := range lines(s) {
		k, v, ok := strings.Cut(l, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, errors.New(`scopes are lines of "scope: METHODS PATH"`)
		}
		if v = strings.TrimSpace(v); v == "" {
			if out[k] == nil {
				out[k] = []string{}
			}
			continue
		}
		out[k] = append(out[k], v)
	}
	return out, nil
}

func checkbox(f url.Values, name string) bool { return f.Get(name) != "" }
