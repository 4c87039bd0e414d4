package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"latch.dev/latch/middleware"
)

// Employee is one record of the payroll directory.
type Employee struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Title    string    `json:"title"`
	Manager  string    `json:"manager,omitempty"`
	Paystubs []Paystub `json:"-"`
}

// Paystub is one month's pay.
type Paystub struct {
	ID     string `json:"id"`
	Period string `json:"period"`
	Gross  string `json:"gross"`
	Net    string `json:"net"`
}

// SampleData is the payroll of the seed documents: employees 5 and 6, their
// manager c, and c's own manager 7 (whose data c must never see).
func SampleData() map[string]Employee {
	stubs := func(gross, net string) []Paystub {
		return []Paystub{
			{ID: "1", Period: "2025-01", Gross: gross, Net: net},
			{ID: "2", Period: "2025-02", Gross: gross, Net: net},
			{ID: "10", Period: "2025-10", Gross: gross, Net: net},
		}
	}
	return map[string]Employee{
		"5": {ID: "5", Name: "Alice", Title: "Engineer", Manager: "c", Paystubs: stubs("5200.00", "3810.00")},
		"6": {ID: "6", Name: "Bob", Title: "Engineer", Manager: "c", Paystubs: stubs("5100.00", "3745.00")},
		"c": {ID: "c", Name: "Carol", Title: "Engineering manager", Manager: "7", Paystubs: stubs("8300.00", "5790.00")},
		"7": {ID: "7", Name: "Dave", Title: "Director of engineering", Paystubs: stubs("11700.00", "7950.00")},
	}
}

// Mode says who authorizes the requests before the handler sees them.
type Mode string

const (
	// Gateway: nginx (auth_request to Latch's /forward-auth) has allowed the
	// request and set X-Latch-Sub; the service must be reachable only
	// through the gateway (it listens on loopback).
	Gateway Mode = "gateway"
	// Middleware: the service faces clients itself and asks Latch through
	// the Go middleware.
	Middleware Mode = "middleware"
)

// Config configures NewHandler.
type Config struct {
	Mode Mode
	// Decider is required in Middleware mode (middleware.Remote).
	Decider middleware.Decider
	// Data defaults to SampleData().
	Data map[string]Employee
	// Log defaults to discarding.
	Log *slog.Logger
}

// NewHandler returns the payroll API:
//
//	GET /api/employee/{id}
//	GET /api/employee/{id}/paystubs
//	GET /api/employee/{id}/paystubs/{paystub_id}
//
// It decides nothing itself: Latch has decided on the raw path before the
// request gets here (nginx forwards $request_uri, the middleware passes
// r.URL.EscapedPath()). The handler therefore reads the ids from that same
// raw path, and only from segments that are already canonical under a strict
// grammar, so it can never act on an object other than the one Latch judged
// ("%37" is not turned into 7 here, "07" is not 7, "5%2F..%2F7" is not 7).
func NewHandler(cfg Config) http.Handler {
	if cfg.Data == nil {
		cfg.Data = SampleData()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	api := &api{data: cfg.Data, log: cfg.Log}
	if cfg.Mode == Middleware {
		mw := middleware.New(cfg.Decider, middleware.Options{OnError: func(r *http.Request, err error) {
			cfg.Log.ErrorContext(r.Context(), "latch decision failed", "err", err)
		}})
		return mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := middleware.PrincipalFrom(r.Context())
			if !ok || p.Sub == "" {
				writeMessage(w, http.StatusUnauthorized, "Unauthorized")
				return
			}
			api.serve(w, r, p.Sub)
		}))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// nginx sets X-Latch-Sub from Latch's answer (proxy_set_header
		// replaces whatever the client sent). No header: the request did not
		// come through the gateway.
		sub := r.Header.Get("X-Latch-Sub")
		if sub == "" || len(r.Header.Values("X-Latch-Sub")) != 1 {
			writeMessage(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		api.serve(w, r, sub)
	})
}

type api struct {
	data map[string]Employee
	log  *slog.Logger
}

func (a *api) serve(w http.ResponseWriter, r *http.Request, viewer string) {
	route, id, stubID, ok := parsePath(r.URL.EscapedPath())
	if !ok {
		writeMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeMessage(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	emp, found := a.data[id]
	if !found {
		writeMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	a.log.InfoContext(r.Context(), "payroll read", "viewer", viewer, "employee", id, "route", route)
	w.Header().Set("X-Payroll-Viewer", viewer)
	switch route {
	case routeEmployee:
		writeJSON(w, http.StatusOK, emp)
	case routePaystubs:
		writeJSON(w, http.StatusOK, map[string]any{"employee": emp.ID, "paystubs": emp.Paystubs})
	case routePaystub:
		for _, s := range emp.Paystubs {
			if s.ID == stubID {
				writeJSON(w, http.StatusOK, map[string]any{"employee": emp.ID, "paystub": s})
				return
			}
		}
		writeMessage(w, http.StatusNotFound, "Not Found")
	}
}

type route int

const (
	routeEmployee route = iota + 1
	routePaystubs
	routePaystub
)

func (r route) String() string {
	switch r {
	case routeEmployee:
		return "employee"
	case routePaystubs:
		return "paystubs"
	default:
		return "paystub"
	}
}

// parsePath matches the raw (escaped) request path against the three routes.
// It never decodes anything: a segment must already be exactly the canonical
// spelling, so any percent escape, empty segment (a "//" or a trailing
// slash), dot segment, ';', sign, space, upper case or non-ASCII digit fails
// the match and the request is 404.
func parsePath(raw string) (r route, id, stubID string, ok bool) {
	rest, found := strings.CutPrefix(raw, "/api/employee/")
	if !found {
		return 0, "", "", false
	}
	seg := strings.Split(rest, "/")
	switch {
	case len(seg) == 1 && validEmployeeID(seg[0]):
		return routeEmployee, seg[0], "", true
	case len(seg) == 2 && validEmployeeID(seg[0]) && seg[1] == "paystubs":
		return routePaystubs, seg[0], "", true
	case len(seg) == 3 && validEmployeeID(seg[0]) && seg[1] == "paystubs" && validNumber(seg[2]):
		return routePaystub, seg[0], seg[2], true
	}
	return 0, "", "", false
}

// validNumber is ^(0|[1-9][0-9]*)$ over ASCII digits, at most 18 of them.
func validNumber(s string) bool {
	if s == "" || len(s) > 18 || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validEmployeeID is a number (validNumber) or a short lower-case ASCII
// letter id such as "c": ^[a-z]{1,32}$.
func validEmployeeID(s string) bool {
	if validNumber(s) {
		return true
	}
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeMessage(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}
