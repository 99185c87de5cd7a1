package tamper

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode/utf16"
)

// This file is a second, independent implementation of the record hash the audit package
// documents (audit/doc.go, "Hash"): SHA-256 over the RFC 8785 (JCS) form of the record without
// its "hash" member. The tamper matrix forges records with it, as an attacker who read the
// documentation would, and the audit fuzz target checks the verifier against it. It shares no
// code with the audit package on purpose.

// Object is a parsed record: members by name, numbers kept as their text.
type Object = map[string]any

// ParseLine parses one log line (with or without its newline) into an Object.
func ParseLine(line []byte) (Object, error) {
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimSuffix(line, []byte("\n"))))
	dec.UseNumber()
	var m Object
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	if m == nil {
		return nil, errors.New("not an object")
	}
	return m, nil
}

// Canonical returns the JCS serialisation of v (objects, arrays, strings, integers, booleans
// and null only).
func Canonical(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := canonical(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func canonical(b *bytes.Buffer, v any) error {
	switch t := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case json.Number:
		i, err := strconv.ParseInt(string(t), 10, 64)
		if err != nil {
			return fmt.Errorf("number %s is not an integer", t)
		}
		b.WriteString(strconv.FormatInt(i, 10))
	case int:
		b.WriteString(strconv.Itoa(t))
	case uint64:
		b.WriteString(strconv.FormatUint(t, 10))
	case string:
		jcsString(b, t)
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := canonical(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		// RFC 8785 §3.2.3: members sorted by the UTF-16 code units of their names.
		slices.SortFunc(keys, func(x, y string) int { return slices.Compare(utf16.Encode([]rune(x)), utf16.Encode([]rune(y))) })
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			jcsString(b, k)
			b.WriteByte(':')
			if err := canonical(b, t[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("unexpected %T in a record", v)
	}
	return nil
}

// jcsString writes s as RFC 8785 §3.2.2.2 does: only '"', '\\' and U+0000–U+001F escaped,
// the short forms where JSON has them.
func jcsString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// Hash is the documented record hash of m: "sha256:" + hex SHA-256 of JCS(m without "hash").
func Hash(m Object) (string, error) {
	c := make(Object, len(m))
	for k, v := range m {
		if k != "hash" {
			c[k] = v
		}
	}
	j, err := Canonical(c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(j)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// Line encodes m as a log line: its JCS form and a newline. The hash covers content, not
// bytes, so a record re-encoded this way still verifies when nothing else changed.
func Line(m Object) ([]byte, error) {
	j, err := Canonical(m)
	if err != nil {
		return nil, err
	}
	return append(j, '\n'), nil
}

// Rehash sets m's hash to the one its content gives.
func Rehash(m Object) error {
	h, err := Hash(m)
	if err != nil {
		return err
	}
	m["hash"] = h
	return nil
}
