package dynamodb

import (
	"strconv"
	"strings"

	"latch.dev/latch"
)

// ChangeOf says which change an item of Latch's table stands for, from the
// item's key and, for the version, its new image (attr reads an attribute
// of it as text, ok false when absent; nil for none): what a DynamoDB
// Streams record of the table means to a cache. It mirrors what the store
// publishes on its own change feed, so a process that follows the table's
// stream (the stream Lambda) learns of writes made by every server and
// function. Items that no cache holds (login claims, authorization codes)
// give ok = false.
func ChangeOf(pk, sk string, deleted bool, attr func(name string) (string, bool)) (latch.Change, bool) {
	ch := latch.Change{Deleted: deleted}
	if attr != nil {
		if v, ok := attr(aVer); ok {
			ch.Version, _ = strconv.ParseUint(v, 10, 64)
		}
	}
	switch {
	case pk == pkOrgs:
		ch.Kind, ch.ID = latch.ChangeOrg, sk
	case pk == pkAudiences:
		ch.Kind, ch.ID = latch.ChangeAudience, sk
	case pk == pkKeys:
		ch.Kind = latch.ChangeSigningKey
		ch.ID, _ = strings.CutPrefix(sk, keyPrefix)
	case strings.HasPrefix(pk, orgPrefix):
		ch.Org = pk[len(orgPrefix):]
		switch {
		case strings.HasPrefix(sk, userPrefix):
			ch.Kind, ch.ID = latch.ChangeUser, sk[len(userPrefix):]
		case strings.HasPrefix(sk, rolePrefix):
			ch.Kind, ch.ID = latch.ChangeRole, sk[len(rolePrefix):]
		case strings.HasPrefix(sk, clientPK):
			ch.Kind, ch.ID = latch.ChangeClient, sk[len(clientPK):]
		default:
			return latch.Change{}, false
		}
	case sk == clientSK && strings.HasPrefix(pk, clientPK):
		ch.Kind, ch.ID = latch.ChangeClient, pk[len(clientPK):]
	case sk == kFamily && strings.HasPrefix(pk, kFamily+"#"):
		ch.Kind, ch.ID = latch.ChangeFamily, pk[len(kFamily)+1:]
		// A family's only change is its revocation: version 1 then, as
		// the cache counts it; its creation is version 0.
		ch.Version = 0
		if attr != nil {
			if _, revoked := attr(aRevokedAt); revoked {
				ch.Version = 1
			}
		}
	case sk == kAccess && strings.HasPrefix(pk, kAccess+"#"):
		ch.Kind, ch.ID = latch.ChangeToken, pk[len(kAccess)+1:]
	case sk == kRefresh && strings.HasPrefix(pk, kRefresh+"#"):
		ch.Kind, ch.ID = latch.ChangeToken, pk[len(kRefresh)+1:]
	case sk == kJTI && strings.HasPrefix(pk, kJTI+"#"):
		ch.Kind, ch.ID = latch.ChangeToken, pk[len(kJTI)+1:]
	default:
		return latch.Change{}, false
	}
	if ch.ID == "" && ch.Kind != latch.ChangeSigningKey {
		return latch.Change{}, false
	}
	return ch, true
}

// KeyAttributes are the names of the table's key attributes, as stream
// records carry them in Keys.
const (
	KeyAttributePK = aPK
	KeyAttributeSK = aSK
)
