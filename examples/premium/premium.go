package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"latch.dev/latch/middleware"
)

// Article is one piece of premium content.
type Article struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	Author    string    `json:"author"` // the client that published it
	Published time.Time `json:"published"`
}

// Store is the in-memory content store.
type Store struct {
	mu       sync.Mutex
	articles []Article
}

// NewStore returns a store with two sample articles.
func NewStore() *Store {
	at := time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)
	return &Store{articles: []Article{
		{ID: "1", Title: "Quarterly outlook", Body: "Premium analysis of the quarter.", Author: "editorial", Published: at},
		{ID: "2", Title: "Market brief", Body: "This week's premium market brief.", Author: "editorial", Published: at.Add(24 * time.Hour)},
	}}
}

func (s *Store) list() []Article {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Article(nil), s.articles...)
}

func (s *Store) get(id string) (Article, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.articles {
		if a.ID == id {
			return a, true
		}
	}
	return Article{}, false
}

func (s *Store) add(a Article) Article {
	s.mu.Lock()
	defer s.mu.Unlock()
	a.ID = strconv.Itoa(len(s.articles) + 1)
	a.Published = time.Now().UTC().Truncate(time.Second)
	s.articles = append(s.articles, a)
	return a
}

// NewHandler returns the premium content API behind the Go middleware:
//
//	GET  /premium/articles        list         (scope premium/read)
//	GET  /premium/articles/{id}   one article  (scope premium/read)
//	POST /premium/articles        publish      (scope premium/write)
//
// Latch decides every request (the audience "premium" maps read to
// "GET /premium/**" and write to "POST /premium/**"); the handler only
// parses, from the same raw path, with a strict grammar.
func NewHandler(d middleware.Decider, store *Store, log *slog.Logger) http.Handler {
	if store == nil {
		store = NewStore()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mw := middleware.New(d, middleware.Options{OnError: func(r *http.Request, err error) {
		log.ErrorContext(r.Context(), "latch decision failed", "err", err)
	}})
	return mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := middleware.PrincipalFrom(r.Context())
		raw := r.URL.EscapedPath()
		if raw == "/premium/articles" {
			switch r.Method {
			case http.MethodGet:
				writeJSON(w, http.StatusOK, map[string]any{"articles": store.list()})
			case http.MethodPost:
				publish(w, r, store, p, log)
			default:
				w.Header().Set("Allow", "GET, POST")
				writeMessage(w, http.StatusMethodNotAllowed, "Method Not Allowed")
			}
			return
		}
		id, ok := strings.CutPrefix(raw, "/premium/articles/")
		if !ok || !validID(id) {
			writeMessage(w, http.StatusNotFound, "Not Found")
			return
		}
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			writeMessage(w, http.StatusMethodNotAllowed, "Method Not Allowed")
			return
		}
		a, found := store.get(id)
		if !found {
			writeMessage(w, http.StatusNotFound, "Not Found")
			return
		}
		writeJSON(w, http.StatusOK, a)
	}))
}

func publish(w http.ResponseWriter, r *http.Request, store *Store, p middleware.Principal, log *slog.Logger) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeMessage(w, http.StatusUnsupportedMediaType, "the body must be application/json")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil || len(body) > 64<<10 {
		writeMessage(w, http.StatusRequestEntityTooLarge, "the body is over 64 KiB")
		return
	}
	var in struct {
		Title string `json:"title"`
		Body  string `json:"body"`
	}
	if err := json.Unmarshal(body, &in); err != nil || strings.TrimSpace(in.Title) == "" ||
		!utf8.ValidString(in.Title) || !utf8.ValidString(in.Body) || len(in.Title) > 200 {
		writeMessage(w, http.StatusBadRequest, `give {"title": "...", "body": "..."} (title 1 to 200 bytes)`)
		return
	}
	a := store.add(Article{Title: in.Title, Body: in.Body, Author: p.ClientID})
	log.InfoContext(r.Context(), "article published", "id", a.ID, "client_id", p.ClientID, "org", p.Org)
	w.Header().Set("Location", "/premium/articles/"+a.ID)
	writeJSON(w, http.StatusCreated, a)
}

// validID is ^(0|[1-9][0-9]*)$ over ASCII digits, at most 18 of them.
func validID(s string) bool {
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeMessage(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}
