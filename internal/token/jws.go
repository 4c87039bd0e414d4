package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/big"
	"strconv"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// sign signs the JWS signing input with the key's one algorithm and returns
// the JWS signature bytes (for ES256 the 64-byte R || S of RFC 7518 §3.4).
func (kk *key) sign(input []byte) ([]byte, error) {
	if kk.alg == AlgEdDSA {
		return kk.signer.Sign(nil, input, crypto.Hash(0))
	}
	h := sha256.Sum256(input)
	sig, err := kk.signer.Sign(rand.Reader, h[:], crypto.SHA256)
	if err != nil || kk.alg != AlgES256 {
		return sig, err
	}
	return ecdsaRaw(sig)
}

// verify checks sig over input with the key's one algorithm.
func (kk *key) verify(input, sig []byte) bool {
	switch pub := kk.pub.(type) {
	case *ecdsa.PublicKey:
		if kk.alg != AlgES256 || len(sig) != 64 {
			return false
		}
		h := sha256.Sum256(input)
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pub, h[:], r, s)
	case ed25519.PublicKey:
		return kk.alg == AlgEdDSA && len(sig) == ed25519.SignatureSize && ed25519.Verify(pub, input, sig)
	case *rsa.PublicKey:
		if kk.alg != AlgRS256 {
			return false
		}
		h := sha256.Sum256(input)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) == nil
	}
	return false
}

// ecdsaRaw turns an ASN.1 ECDSA-Sig-Value for P-256 into R || S.
func ecdsaRaw(der []byte) ([]byte, error) {
	in := cryptobyte.String(der)
	var inner cryptobyte.String
	var r, s []byte
	if !in.ReadASN1(&inner, cbasn1.SEQUENCE) || !in.Empty() ||
		!inner.ReadASN1Integer(&r) || !inner.ReadASN1Integer(&s) || !inner.Empty() ||
		len(r) > 32 || len(s) > 32 {
		return nil, errors.New("token: malformed ECDSA signature")
	}
	out := make([]byte, 64)
	copy(out[32-len(r):32], r)
	copy(out[64-len(s):], s)
	return out, nil
}

// splitCompact splits a JWS compact serialisation into its three parts. Every
// byte must be of the base64url alphabet or one of exactly two dots: no
// padding, whitespace or line breaks (which the base64 decoder would skip).
// The signature may be empty here; the caller refuses it after reading the
// header.
func splitCompact(raw string) (header, payload, sig string, ok bool) {
	dots := [2]int{}
	n := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		case c == '.':
			if n == 2 {
				return "", "", "", false
			}
			dots[n] = i
			n++
		default:
			return "", "", "", false
		}
	}
	if n != 2 || dots[0] == 0 || dots[1] == dots[0]+1 {
		return "", "", "", false
	}
	return raw[:dots[0]], raw[dots[0]+1 : dots[1]], raw[dots[1]+1:], true
}

// maxDepth bounds nesting inside a header or claims object.
const maxDepth = 32

// errDuplicate is the cause when a JSON object repeats a member name.
var errDuplicate = errors.New("duplicate JSON member name")

// objectReader walks one JSON object member by member with encoding/json's
// tokenizer. Unlike json.Unmarshal, which keeps the last of two equal names
// and matches names case-insensitively, it refuses any repeated name (at
// every depth) and hands each exact name to the caller, who must consume the
// value with one of the read methods.
type objectReader struct {
	dec *json.Decoder
}

// readObject calls member for each name of the object in data, then checks
// that nothing follows the object.
func readObject(data []byte, member func(r objectReader, name string) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	r := objectReader{dec}
	if err := r.object(1, member); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after JSON object")
	}
	return nil
}

func (r objectReader) object(depth int, member func(r objectReader, name string) error) error {
	tok, err := r.dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	return r.members(depth, member)
}

// members reads the members of an object whose '{' has been read, and its '}'.
func (r objectReader) members(depth int, member func(r objectReader, name string) error) error {
	if depth > maxDepth {
		return errors.New("JSON nested too deeply")
	}
	seen := make(map[string]struct{}, 12)
	for r.dec.More() {
		tok, err := r.dec.Token()
		if err != nil {
			return err
		}
		name, ok := tok.(string)
		if !ok {
			return errors.New("bad JSON member name")
		}
		if _, dup := seen[name]; dup {
			return errDuplicate
		}
		seen[name] = struct{}{}
		if member == nil {
			err = r.skip(depth + 1)
		} else {
			err = member(r, name)
		}
		if err != nil {
			return err
		}
	}
	_, err := r.dec.Token() // '}'
	return err
}

// skip consumes one value, refusing duplicate names in nested objects.
func (r objectReader) skip(depth int) error {
	if depth > maxDepth {
		return errors.New("JSON nested too deeply")
	}
	tok, err := r.dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		return r.members(depth, nil)
	case json.Delim('['):
		for r.dec.More() {
			if err := r.skip(depth + 1); err != nil {
				return err
			}
		}
		_, err := r.dec.Token() // ']'
		return err
	case json.Delim('}'), json.Delim(']'):
		return errors.New("missing JSON value")
	}
	return nil
}

// string reads a string value (null and other types are errors).
func (r objectReader) string() (string, error) {
	tok, err := r.dec.Token()
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", errors.New("JSON value is not a string")
	}
	return s, nil
}

// strings reads a string or an array of strings (the form of aud).
func (r objectReader) strings() ([]string, error) {
	tok, err := r.dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case string:
		return []string{t}, nil
	case json.Delim:
		if t != '[' {
			break
		}
		var out []string
		for r.dec.More() {
			s, err := r.string()
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		_, err := r.dec.Token() // ']'
		return out, err
	}
	return nil, errors.New("JSON value is not a string or an array of strings")
}

// maxNumericDate is 9999-12-31T23:59:59Z.
const maxNumericDate = 253402300799

// numericDate reads an RFC 7519 NumericDate: a non-negative JSON number of
// seconds, possibly fractional (truncated).
func (r objectReader) numericDate() (int64, error) {
	tok, err := r.dec.Token()
	if err != nil {
		return 0, err
	}
	n, ok := tok.(json.Number)
	if !ok {
		return 0, errors.New("JSON value is not a number")
	}
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		if i < 0 || i > maxNumericDate {
			return 0, errors.New("NumericDate out of range")
		}
		return i, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return 0, errors.New("NumericDate out of range")
	}
	return int64(f), nil
}
