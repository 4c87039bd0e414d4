package bolt

import (
	"context"
	"encoding/json"

	bolt "go.etcd.io/bbolt"

	"latch.dev/latch"
)

// CreateSigningKey adds k to the key set; ECONFLICT if its kid is taken.
func (s *Store) CreateSigningKey(ctx context.Context, k latch.SigningKey) error {
	const op = "bolt.CreateSigningKey"
	if err := checkCtx(ctx, op); err != nil {
		return err
	}
	if k.ID == "" {
		return invalid("signing key: empty kid")
	}
	data, err := json.Marshal(k)
	if err != nil {
		return latch.Wrap(latch.EINTERNAL, op, err)
	}
	return s.write(op, func(tx *bolt.Tx) ([]latch.Change, error) {
		b := tx.Bucket(bKeys)
		if b.Get([]byte(k.ID)) != nil {
			return nil, conflict("signing key %q exists already", k.ID)
		}
		if err := b.Put([]byte(k.ID), data); err != nil {
			return nil, err
		}
		return []latch.Change{{Kind: latch.ChangeSigningKey, ID: k.ID}}, nil
	})
}

// ListSigningKeys returns the key set sorted by kid, expired keys included:
// retiring them is the key manager's job, through ReplaceSigningKeys.
func (s *Store) ListSigningKeys(ctx context.Context) ([]latch.SigningKey, error) {
	const op = "bolt.ListSigningKeys"
	if err := checkCtx(ctx, op); err != nil {
		return nil, err
	}
	var keys []latch.SigningKey
	err := s.view(op, func(tx *bolt.Tx) error {
		var err error
		keys, err = readKeys(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

func readKeys(tx *bolt.Tx) ([]latch.SigningKey, error) {
	keys := []latch.SigningKey{}
	err := tx.Bucket(bKeys).ForEach(func(_, raw []byte) error {
		k, err := decode[latch.SigningKey](raw)
		keys = append(keys, k)
		return err
	})
	return keys, err
}

// ReplaceSigningKeys swaps the key set for next if the stored set still has
// exactly old's kids in old's states.
func (s *Store) ReplaceSigningKeys(ctx context.Context, old, next []latch.SigningKey) error {
	const op = "bolt.ReplaceSigningKeys"
	if err := checkCtx(ctx, op); err != nil {
		return err
	}
	want := make(map[string]string, len(old))
	for _, k := range old {
		want[k.ID] = k.State
	}
	seen := make(map[string]bool, len(next))
	records := make([][]byte, len(next))
	for i, k := range next {
		if k.ID == "" || seen[k.ID] {
			return invalid("signing keys: empty or repeated kid %q", k.ID)
		}
		seen[k.ID] = true
		data, err := json.Marshal(k)
		if err != nil {
			return latch.Wrap(latch.EINTERNAL, op, err)
		}
		records[i] = data
	}
	return s.write(op, func(tx *bolt.Tx) ([]latch.Change, error) {
		stored, err := readKeys(tx)
		if err != nil {
			return nil, err
		}
		same := len(stored) == len(old) && len(want) == len(old)
		for _, k := range stored {
			if state, ok := want[k.ID]; !ok || state != k.State {
				same = false
			}
		}
		if !same {
			return nil, conflict("the signing keys changed since they were read")
		}
		b := tx.Bucket(bKeys)
		for _, k := range stored {
			if err := b.Delete([]byte(k.ID)); err != nil {
				return nil, err
			}
		}
		for i, k := range next {
			if err := b.Put([]byte(k.ID), records[i]); err != nil {
				return nil, err
			}
		}
		return []latch.Change{{Kind: latch.ChangeSigningKey}}, nil
	})
}
