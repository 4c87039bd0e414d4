package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Record is one entry of an organization.
type Record struct {
	Org     string    `json:"org"` // the partition it was read from or written to
	ID      string    `json:"id"`
	Title   string    `json:"title"`
	Text    string    `json:"text"`
	Author  string    `json:"author"` // the username of whoever added it
	Created time.Time `json:"created"`
}

// Store keeps records partitioned by organization: every method names the
// org, and a method never reads or writes outside that org's partition, so
// a record of one org is never returned for another, whatever its id.
type Store interface {
	// Add stores r in org's partition with a new id and creation time, and
	// returns it as stored.
	Add(ctx context.Context, org string, r Record) (Record, error)
	// List returns org's records, newest first, at most limit of them.
	List(ctx context.Context, org string, limit int) ([]Record, error)
	// Get returns the record id of org, or errNotFound.
	Get(ctx context.Context, org, id string) (Record, error)
	Close() error
}

var errNotFound = errors.New("record not found")

// newRecordID is 16 hex digits of the time in nanoseconds and 8 random ones:
// ids sort by creation time, as List's order needs, and are unguessable
// enough not to collide.
func newRecordID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%016x%s", uint64(now.UnixNano()), hex.EncodeToString(b[:]))
}

// validRecordID: exactly the form newRecordID makes, so that a URL naming a
// record names it one way only.
func validRecordID(id string) bool {
	if len(id) != 24 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// validOrgID is Latch's grammar for ids: 1 to 128 ASCII letters, digits,
// '.', '_' and '-', not starting with '.' or '-'. An org id is a partition
// key and a path segment, so anything else is refused before it reaches
// the store.
func validOrgID(s string) bool {
	if len(s) == 0 || len(s) > 128 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// boltStore keeps each org's records in a bucket of its own, named after
// the org, inside the bucket "orgs"; keys are the record ids.
type boltStore struct {
	db *bolt.DB
}

var orgsBucket = []byte("orgs")

func openBolt(path string) (*boltStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(orgsBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &boltStore{db: db}, nil
}

func (s *boltStore) Add(_ context.Context, org string, r Record) (Record, error) {
	if !validOrgID(org) {
		return Record{}, fmt.Errorf("invalid org id %q", org)
	}
	r.Org, r.Created = org, time.Now().UTC()
	r.ID = newRecordID(r.Created)
	b, err := json.Marshal(r)
	if err != nil {
		return Record{}, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		bucket, err := tx.Bucket(orgsBucket).CreateBucketIfNotExists([]byte(org))
		if err != nil {
			return err
		}
		if bucket.Get([]byte(r.ID)) != nil {
			return errors.New("record id collision")
		}
		return bucket.Put([]byte(r.ID), b)
	})
	if err != nil {
		return Record{}, err
	}
	return r, nil
}

func (s *boltStore) List(_ context.Context, org string, limit int) ([]Record, error) {
	var out []Record
	err := s.db.View(func(tx *bolt.Tx) error {
		bucket := tx.Bucket(orgsBucket).Bucket([]byte(org))
		if bucket == nil {
			return nil
		}
		c := bucket.Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			r, err := decodeRecord(org, v)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

func (s *boltStore) Get(_ context.Context, org, id string) (Record, error) {
	var r Record
	err := s.db.View(func(tx *bolt.Tx) error {
		bucket := tx.Bucket(orgsBucket).Bucket([]byte(org))
		if bucket == nil {
			return errNotFound
		}
		v := bucket.Get([]byte(id))
		if v == nil {
			return errNotFound
		}
		var err error
		r, err = decodeRecord(org, v)
		return err
	})
	return r, err
}

func (s *boltStore) Close() error { return s.db.Close() }

// decodeRecord reads a record stored in org's bucket. Its org is the one it
// was written with, which can only be org; a record claiming another is
// refused rather than shown.
func decodeRecord(org string, v []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(v, &r); err != nil {
		return Record{}, fmt.Errorf("a stored record is malformed: %w", err)
	}
	if r.Org != org {
		return Record{}, fmt.Errorf("a record of org %q is in the bucket of %q", r.Org, org)
	}
	return r, nil
}
