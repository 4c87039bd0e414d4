package dynamodb

import (
	"context"

	"latch.dev/latch"
)

// Signing keys live in the KEYS partition (sk KEY#<kid>) beside the key-set
// version item (sk SET), which every change of the set bumps in the same
// transaction.
const (
	keyPrefix = "KEY#"
	skKeySet  = "SET"
	// maxTransactItems is DynamoDB's limit on one TransactWriteItems.
	maxTransactItems = 100
)

func (s *Store) bumpKeySet() write {
	return s.update(keyOf(pkKeys, skKeySet), "SET #ver = if_not_exists(#ver, :zero) + :one", "",
		item{":zero": num(0), ":one": num(1)}, nil)
}

func keyItem(k latch.SigningKey) (item, error) {
	d, err := encodeData(k)
	if err != nil {
		return nil, err
	}
	return item{aPK: str(pkKeys), aSK: str(keyPrefix + k.ID), aData: d}, nil
}

// CreateSigningKey adds k to the key set; ECONFLICT if its kid is taken.
func (s *Store) CreateSigningKey(ctx context.Context, k latch.SigningKey) error {
	const op = "dynamodb.CreateSigningKey"
	if k.ID == "" {
		return invalid("signing key: empty kid")
	}
	it, err := keyItem(k)
	if err != nil {
		return corrupt(op, err)
	}
	err = s.commit(ctx, op,
		s.put(it, "attribute_not_exists(#pk)", nil, conflict("signing key %q exists already", k.ID)),
		s.bumpKeySet())
	if err != nil {
		return err
	}
	s.feed.Publish([]latch.Change{{Kind: latch.ChangeSigningKey, ID: k.ID}})
	return nil
}

// ListSigningKeys returns the key set sorted by kid, expired keys included:
// retiring them is the key manager's job, through ReplaceSigningKeys.
func (s *Store) ListSigningKeys(ctx context.Context) ([]latch.SigningKey, error) {
	const op = "dynamodb.ListSigningKeys"
	items, err := s.query(ctx, op, pkKeys, keyPrefix)
	if err != nil {
		return nil, err
	}
	keys := make([]latch.SigningKey, 0, len(items))
	for _, it := range items {
		k, err := decodeData[latch.SigningKey](it)
		if err != nil {
			return nil, corrupt(op, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// ReplaceSigningKeys swaps the key set for next if the stored set still has
// exactly old's kids in old's states. It reads the set's version before the
// keys and writes conditioned on that version, so a change made in between
// makes it fail rather than win.
func (s *Store) ReplaceSigningKeys(ctx context.Context, old, next []latch.SigningKey) error {
	const op = "dynamodb.ReplaceSigningKeys"
	want := make(map[string]string, len(old))
	for _, k := range old {
		want[k.ID] = k.State
	}
	seen := make(map[string]bool, len(next))
	puts := make([]item, len(next))
	for i, k := range next {
		if k.ID == "" || seen[k.ID] {
			return invalid("signing keys: empty or repeated kid %q", k.ID)
		}
		seen[k.ID] = true
		it, err := keyItem(k)
		if err != nil {
			return corrupt(op, err)
		}
		puts[i] = it
	}
	set, err := s.get(ctx, op, pkKeys, skKeySet)
	if err != nil {
		return err
	}
	version, _ := getN(set, aVer)
	stored, err := s.ListSigningKeys(ctx)
	if err != nil {
		return err
	}
	same := len(stored) == len(old) && len(want) == len(old)
	for _, k := range stored {
		if state, ok := want[k.ID]; !ok || state != k.State {
			same = false
		}
	}
	if !same {
		return conflict("the signing keys changed since they were read")
	}
	lost := conflict("the signing keys changed since they were read")
	var ws []write
	if set == nil {
		ws = append(ws, s.update(keyOf(pkKeys, skKeySet), "SET #ver = :one", "attribute_not_exists(#pk)",
			item{":one": num(1)}, lost))
	} else {
		ws = append(ws, s.update(keyOf(pkKeys, skKeySet), "SET #ver = :next", "#ver = :old",
			item{":next": num(version + 1), ":old": num(version)}, lost))
	}
	for _, k := range stored {
		if !seen[k.ID] {
			ws = append(ws, s.del(keyOf(pkKeys, keyPrefix+k.ID), "", nil, nil))
		}
	}
	for _, it := range puts {
		ws = append(ws, s.put(it, "", nil, nil))
	}
	if len(ws) > maxTransactItems {
		return invalid("signing keys: at most %d keys can be replaced at once", maxTransactItems/2-1)
	}
	if err := s.commit(ctx, op, ws...); err != nil {
		if err == errLostRace {
			return lost
		}
		return err
	}
	s.feed.Publish([]latch.Change{{Kind: latch.ChangeSigningKey}})
	return nil
}
