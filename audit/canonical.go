package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"unicode/utf8"
)

// HashPrefix marks a record hash.
const HashPrefix = "sha256:"

// GenesisHash is the prev of the first record of a log that does not continue another file.
const GenesisHash = HashPrefix + "0000000000000000000000000000000000000000000000000000000000000000"

// maxDepth bounds nesting in parsed lines; records are at most four levels deep.
const maxDepth = 16

// integerRE is the only number form records use: a canonical decimal integer.
var integerRE = regexp.MustCompile(`^(0|-?[1-9][0-9]*)$`)

// maxSafeInteger is 2^53-1: larger integers do not survive JSON parsers that use doubles.
const maxSafeInteger = 1<<53 - 1

// parseStrict decodes one JSON value the way the verifier sees it. It refuses what would let two
// readers see different records in the same bytes: duplicate object keys, numbers other than safe
// integers, invalid UTF-8 and trailing data.
//
// A line is decoded whole by encoding/json (fast), then checked: its numbers and depth on the
// decoded value, and duplicate keys by counting the keys in its text against those decoded
// (a repeated key decodes once). A line that fails is read again token by token, for the
// message that names what is wrong.
func parseStrict(b []byte) (any, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err == nil {
		if _, err := dec.Token(); err == io.EOF {
			if keys, ok := checkDecoded(v, 0); ok && keys == keysInText(b) {
				return v, nil
			}
		}
	}
	return parseTokens(b)
}

// checkDecoded counts the object keys of a decoded value, and reports false if it nests deeper
// than maxDepth or holds a number other than a safe integer.
func checkDecoded(v any, depth int) (keys int, ok bool) {
	if depth > maxDepth {
		return 0, false
	}
	switch t := v.(type) {
	case map[string]any:
		keys = len(t)
		for _, e := range t {
			n, ok := checkDecoded(e, depth+1)
			if !ok {
				return 0, false
			}
			keys += n
		}
	case []any:
		for _, e := range t {
			n, ok := checkDecoded(e, depth+1)
			if !ok {
				return 0, false
			}
			keys += n
		}
	case json.Number:
		return 0, checkInteger(t) == nil
	}
	return keys, true
}

// keysInText counts the object keys in valid JSON text: the strings followed by a colon.
func keysInText(b []byte) int {
	n := 0
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		for i++; i < len(b) && b[i] != '"'; i++ {
			if b[i] == '\\' {
				i++
			}
		}
		j := i + 1
		for j < len(b) && (b[j] == ' ' || b[j] == '\t' || b[j] == '\n' || b[j] == '\r') {
			j++
		}
		if j < len(b) && b[j] == ':' {
			n++
		}
	}
	return n
}

// parseTokens is parseStrict token by token: slower, and exact about what is wrong.
func parseTokens(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := parseValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	return v, nil
}

func parseValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := map[string]any{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				if _, dup := m[k]; dup {
					return nil, fmt.Errorf("duplicate key %q", safeName(k))
				}
				v, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				m[k] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return m, nil
		case '[':
			a := []any{}
			for dec.More() {
				v, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return a, nil
		}
		return nil, fmt.Errorf("unexpected %q", t)
	case json.Number:
		if err := checkInteger(t); err != nil {
			return nil, err
		}
		return t, nil
	case string, bool, nil:
		return t, nil
	}
	return nil, fmt.Errorf("unexpected token %T", tok)
}

func checkInteger(n json.Number) error {
	if !integerRE.MatchString(string(n)) {
		return fmt.Errorf("number %s is not a canonical integer", n)
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || i > maxSafeInteger || i < -maxSafeInteger {
		return fmt.Errorf("number %s is outside the safe integer range", n)
	}
	return nil
}

// canonical appends the RFC 8785 (JCS) serialisation of v: object members sorted by the UTF-16
// code units of their names, no whitespace, minimal string escaping. Numbers are limited to
// integers, for which JCS output is the plain decimal form.
func canonical(buf *bytes.Buffer, v any) error {
	switch t := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		if t {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case json.Number:
		if err := checkInteger(t); err != nil {
			return err
		}
		buf.WriteString(string(t))
	case string:
		canonicalString(buf, t)
	case []any:
		buf.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := canonical(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, compareUTF16)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			canonicalString(buf, k)
			buf.WriteByte(':')
			if err := canonical(buf, t[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("cannot canonicalise %T", v)
	}
	return nil
}

// canonicalString writes s as JCS does (see appendString).
func canonicalString(buf *bytes.Buffer, s string) {
	buf.Write(appendString(buf.AvailableBuffer(), s))
}

// canonicalWithout returns the canonical form of object m without member drop.
func canonicalWithout(m map[string]any, drop string) ([]byte, error) {
	c := make(map[string]any, len(m))
	for k, v := range m {
		if k != drop {
			c[k] = v
		}
	}
	var buf bytes.Buffer
	if err := canonical(&buf, c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// hashObject is the record hash: "sha256:" + hex SHA-256 of the canonical JSON of the record
// object without its "hash" member.
func hashObject(m map[string]any) (string, error) {
	b, err := canonicalWithout(m, "hash")
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return HashPrefix + hex.EncodeToString(sum[:]), nil
}

// toObject turns v into the generic form the verifier sees, by a JSON round trip. The JSON comes
// from encoding/json, so it needs none of parseStrict's checks (which cost far more); canonical
// still refuses numbers that are not safe integers.
func toObject(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}
