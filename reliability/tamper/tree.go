package tamper

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The JSON tree of a parsed record: copying it, walking its leaves, editing one in place.

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(t))
		for k, e := range t {
			c[k] = deepCopy(e)
		}
		return c
	case []any:
		c := make([]any, len(t))
		for i, e := range t {
			c[i] = deepCopy(e)
		}
		return c
	}
	return v
}

// leaf is the path to one value inside a record.
type leaf []any // string member names and int indices

func (l leaf) String() string {
	var s strings.Builder
	for i, p := range l {
		switch p := p.(type) {
		case string:
			if i > 0 {
				s.WriteByte('.')
			}
			s.WriteString(p)
		case int:
			fmt.Fprintf(&s, "[%d]", p)
		}
	}
	return s.String()
}

// leaves lists every scalar in v, and objects lists every object's path (the record is the
// empty path).
func walk(v any, path leaf, leaves, objects *[]leaf) {
	switch t := v.(type) {
	case map[string]any:
		*objects = append(*objects, slices.Clone(path))
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			walk(t[k], append(slices.Clone(path), k), leaves, objects)
		}
	case []any:
		for i, e := range t {
			walk(e, append(slices.Clone(path), i), leaves, objects)
		}
	default:
		*leaves = append(*leaves, slices.Clone(path))
	}
}

// at returns the container holding the last element of path, and that element.
func at(root Object, path leaf) (container any, last any) {
	var cur any = root
	for _, p := range path[:len(path)-1] {
		switch p := p.(type) {
		case string:
			cur = cur.(map[string]any)[p]
		case int:
			cur = cur.([]any)[p]
		}
	}
	return cur, path[len(path)-1]
}

func set(root Object, path leaf, f func(any) any) {
	c, last := at(root, path)
	switch last := last.(type) {
	case string:
		m := c.(map[string]any)
		m[last] = f(m[last])
	case int:
		a := c.([]any)
		a[last] = f(a[last])
	}
}

func objectAt(root Object, path leaf) map[string]any {
	var cur any = root
	for _, p := range path {
		switch p := p.(type) {
		case string:
			cur = cur.(map[string]any)[p]
		case int:
			cur = cur.([]any)[p]
		}
	}
	return cur.(map[string]any)
}

// mutate changes a value to another of the same form, as an editor hiding a change would:
// a digit or letter near the end is replaced by the next one (hex stays hex), numbers grow by
// one, booleans flip.
func mutate(v any) any {
	switch t := v.(type) {
	case string:
		r := []byte(t)
		hexTail := strings.Contains(t, ":") && isHex(t[strings.LastIndexByte(t, ':')+1:])
		for i := len(r) - 1; i >= 0; i-- {
			c := r[i]
			switch {
			case hexTail && (c >= '0' && c <= '9' || c >= 'a' && c <= 'f'):
				r[i] = "123456789abcdef0"[strings.IndexByte("0123456789abcdef", c)]
				return string(r)
			case !hexTail && c >= '0' && c <= '9':
				r[i] = '0' + (c-'0'+1)%10
				return string(r)
			case !hexTail && c >= 'a' && c <= 'z':
				r[i] = 'a' + (c-'a'+1)%26
				return string(r)
			}
		}
		return t + "x"
	case json.Number:
		i, err := strconv.ParseInt(string(t), 10, 64)
		if err != nil {
			return json.Number("1")
		}
		return json.Number(strconv.FormatInt(i+1, 10))
	case bool:
		return !t
	case nil:
		return "x"
	}
	return v
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
