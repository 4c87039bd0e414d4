package e2etest

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Browser is a user agent for Go tests of Latch's pages: a cookie jar, no
// automatic redirects (Follow follows them), and forms read from the HTML
// the way a browser would submit them. The real-browser tests (e2e/browser)
// drive Chromium; this one runs everywhere.
type Browser struct {
	t  testing.TB
	hc *http.Client
}

// NewBrowser returns a Browser with an empty cookie jar.
func NewBrowser(t testing.TB) *Browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Browser{t: t, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// Page is a response as a browser sees it.
type Page struct {
	URL    *url.URL
	Status int
	Header http.Header
	Body   string
}

// Jar is the browser's cookie jar (to take a session's cookies, or put
// them back).
func (b *Browser) Jar() http.CookieJar {
	return b.hc.Jar
}

// Do sends req.
func (b *Browser) Do(req *http.Request) Page {
	b.t.Helper()
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return Page{URL: req.URL, Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}

// Get loads u.
func (b *Browser) Get(u string) Page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.Do(req)
}

// Post posts form to u.
func (b *Browser) Post(u string, form url.Values) Page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.Do(req)
}

// IsRedirect reports whether p sends the browser elsewhere.
func (p Page) IsRedirect() bool {
	return p.Status == http.StatusFound || p.Status == http.StatusSeeOther || p.Status == http.StatusMovedPermanently
}

// Location is where a redirect points, resolved against the page's URL.
func (p Page) Location(t testing.TB) *url.URL {
	t.Helper()
	if !p.IsRedirect() {
		t.Fatalf("%s: status %d, want a redirect; body: %s", p.URL, p.Status, p.Body)
	}
	return p.location(t)
}

// LocationStatus is Location for a page whose status must be one of want:
// exactly 303 See Other, say, where a test checks how a server redirects.
func (p Page) LocationStatus(t testing.TB, want ...int) *url.URL {
	t.Helper()
	if !slices.Contains(want, p.Status) {
		t.Fatalf("%s: status %d, want %v; body: %s", p.URL, p.Status, want, p.Body)
	}
	return p.location(t)
}

func (p Page) location(t testing.TB) *url.URL {
	t.Helper()
	u, err := p.URL.Parse(p.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Follow follows redirects from p (GET, as browsers do after 303) until a
// page that is not one, at most 10.
func (b *Browser) Follow(p Page) Page {
	b.t.Helper()
	for i := 0; p.IsRedirect(); i++ {
		if i == 10 {
			b.t.Fatalf("more than 10 redirects, last to %s", p.Header.Get("Location"))
		}
		p = b.Get(p.Location(b.t).String())
	}
	return p
}

var (
	formRE     = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)"([^>]*)>(.*?)</form>`)
	idRE       = regexp.MustCompile(`\bid="([^"]*)"`)
	inputRE    = regexp.MustCompile(`(?s)<input ([^>]*)>`)
	textareaRE = regexp.MustCompile(`(?s)<textarea ([^>]*)>(.*?)</textarea>`)
	selectRE   = regexp.MustCompile(`(?s)<select ([^>]*)>(.*?)</select>`)
	optionRE   = regexp.MustCompile(`(?s)<option ([^>]*)>`)
	attrRE     = regexp.MustCompile(`([\w-]+)(?:="([^"]*)")?`)
	alertRE    = regexp.MustCompile(`(?s)role="alert"[^>]*>(.*?)</(?:p|div)>`)
	tagRE      = regexp.MustCompile(`<[^>]*>`)
)

// Form is a form of a page: its action and the values a browser would
// submit unchanged (checked boxes only, the selected or first option).
type Form struct {
	ID     string
	Action string
	Values url.Values
}

func attrs(s string) map[string]string {
	out := map[string]string{}
	for _, a := range attrRE.FindAllStringSubmatch(s, -1) {
		out[a[1]] = html.UnescapeString(a[2])
	}
	return out
}

// Forms returns the page's POST forms.
func (p Page) Forms() []Form {
	var out []Form
	for _, m := range formRE.FindAllStringSubmatch(p.Body, -1) {
		action, err := p.URL.Parse(html.UnescapeString(m[1]))
		if err != nil {
			continue
		}
		f := Form{Action: action.String(), Values: url.Values{}}
		if id := idRE.FindStringSubmatch(m[2]); id != nil {
			f.ID = id[1]
		}
		for _, in := range inputRE.FindAllStringSubmatch(m[3], -1) {
			a := attrs(in[1])
			if a["name"] == "" {
				continue
			}
			if t := a["type"]; t == "checkbox" || t == "radio" {
				if _, on := a["checked"]; !on {
					continue
				}
			}
			f.Values.Add(a["name"], a["value"])
		}
		for _, ta := range textareaRE.FindAllStringSubmatch(m[3], -1) {
			if name := attrs(ta[1])["name"]; name != "" {
				f.Values.Set(name, html.UnescapeString(ta[2]))
			}
		}
		for _, sel := range selectRE.FindAllStringSubmatch(m[3], -1) {
			name := attrs(sel[1])["name"]
			first, chosen := "", ""
			for i, o := range optionRE.FindAllStringSubmatch(sel[2], -1) {
				a := attrs(o[1])
				if i == 0 {
					first = a["value"]
				}
				if _, on := a["selected"]; on {
					chosen = a["value"]
				}
			}
			if chosen == "" {
				chosen = first
			}
			if name != "" {
				f.Values.Set(name, chosen)
			}
		}
		out = append(out, f)
	}
	return out
}

// Form returns the form whose id is key or whose "step" field is key
// (the hosted login's steps), failing the test when the page has none.
func (p Page) Form(t testing.TB, key string) Form {
	t.Helper()
	for _, f := range p.Forms() {
		if f.ID == key || f.Values.Get("step") == key {
			return f
		}
	}
	t.Fatalf("no %q form on %s (status %d): %s", key, p.URL, p.Status, p.Body)
	return Form{}
}

// FormAt returns the form that posts to path (its action's path), failing
// the test when the page has none.
func (p Page) FormAt(t testing.TB, path string) Form {
	t.Helper()
	for _, f := range p.Forms() {
		if u, err := url.Parse(f.Action); err == nil && u.Path == path {
			return f
		}
	}
	t.Fatalf("no form to %s on %s (status %d): %s", path, p.URL, p.Status, p.Body)
	return Form{}
}

// HasForm reports whether the page has the form Form would find.
func (p Page) HasForm(key string) bool {
	for _, f := range p.Forms() {
		if f.ID == key || f.Values.Get("step") == key {
			return true
		}
	}
	return false
}

// Alert returns the text of the page's alert (its error message), tags
// removed and spaces collapsed.
func (p Page) Alert() string {
	m := alertRE.FindStringSubmatch(p.Body)
	if m == nil {
		return ""
	}
	return strings.Join(strings.Fields(html.UnescapeString(tagRE.ReplaceAllString(m[1], " "))), " ")
}

// Submit posts f with fields set (a field set to "" is still sent).
func (b *Browser) Submit(f Form, fields map[string]string) Page {
	b.t.Helper()
	v := url.Values{}
	for k, vs := range f.Values {
		v[k] = append([]string(nil), vs...)
	}
	for k, x := range fields {
		v.Set(k, x)
	}
	return b.Post(f.Action, v)
}

// SignIn completes the hosted login from p (the organization step when it
// is shown, then the password step) and returns the answer to the last
// step: a redirect to the client when the sign-in worked.
func (b *Browser) SignIn(p Page, org, username, password string) Page {
	b.t.Helper()
	if p.IsRedirect() { // signed in already
		return p
	}
	if p.HasForm("org") {
		p = b.Submit(p.Form(b.t, "org"), map[string]string{"organization": org})
	}
	return b.Submit(p.Form(b.t, "password"), map[string]string{"username": username, "password": password})
}
