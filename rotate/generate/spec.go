package generate

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Spec names a generator and its parameters, as a policy file or a --generator flag gives them.
// Parameter values are the literal strings, except that list parameters separate their items
// with ";" (see JoinList).
type Spec struct {
	// Type is the generator type: one of Types.
	Type string
	// Params are the generator's parameters by name; a missing parameter takes its default.
	Params map[string]string
}

// ParseSpec reads the flag form "password:length=32,digits=4" (type, then comma-separated k=v).
// The type may stand alone ("uuid"). In a value, "\," is a comma and "\\" a backslash; any
// other backslash is itself, so list values keep their own escapes ("args=a\;b" is the one
// argument "a;b"). Only the syntax is checked here; New checks the type and the parameters.
func ParseSpec(s string) (Spec, error) {
	typ, rest, hasParams := strings.Cut(s, ":")
	typ = strings.TrimSpace(typ)
	if typ == "" {
		return Spec{}, &SpecError{Reason: "no generator type (the form is type:name=value,name=value)"}
	}
	spec := Spec{Type: typ, Params: map[string]string{}}
	if !hasParams {
		return spec, nil
	}
	for i, pair := range splitEscaped(rest, ',') {
		name, value, ok := strings.Cut(pair, "=")
		name = strings.TrimSpace(name)
		switch {
		case !ok && strings.TrimSpace(pair) == "":
			return Spec{}, &SpecError{Type: typ, Reason: fmt.Sprintf("parameter %d is empty (the form is type:name=value,name=value)", i+1)}
		case !ok:
			return Spec{}, &SpecError{Type: typ, Reason: fmt.Sprintf("parameter %d (%q) has no \"=\" (the form is name=value)", i+1, name)}
		case name == "":
			return Spec{}, &SpecError{Type: typ, Reason: fmt.Sprintf("parameter %d has no name before \"=\"", i+1)}
		}
		if _, dup := spec.Params[name]; dup {
			return Spec{}, &SpecError{Type: typ, Param: name, Reason: "given more than once"}
		}
		spec.Params[name] = unescape(value, ',')
	}
	return spec, nil
}

// String renders s in the flag form ParseSpec reads, parameters sorted by name.
func (s Spec) String() string {
	var b strings.Builder
	b.WriteString(s.Type)
	for i, name := range slices.Sorted(maps.Keys(s.Params)) {
		if i == 0 {
			b.WriteByte(':')
		} else {
			b.WriteByte(',')
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(escape(s.Params[name], ','))
	}
	return b.String()
}

// JoinList makes the value of a list parameter (dnsNames, ipAddresses, args) from its items,
// escaping the semicolons and backslashes in them. A policy file that gives a list uses it.
func JoinList(items ...string) string {
	escaped := make([]string, len(items))
	for i, it := range items {
		escaped[i] = escape(it, ';')
	}
	return strings.Join(escaped, ";")
}

// splitList splits a list parameter value into its items; "" is the empty list.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	parts := splitEscaped(s, ';')
	for i, p := range parts {
		parts[i] = unescape(p, ';')
	}
	return parts
}

// splitEscaped splits s at each sep that is not escaped by a backslash. The parts keep their
// escapes.
func splitEscaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) && (s[i+1] == sep || s[i+1] == '\\') {
				i++
			}
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unescape turns "\"+sep into sep and "\\" into "\"; any other backslash stays.
func unescape(s string, sep byte) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && (s[i+1] == sep || s[i+1] == '\\') {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// escape is the inverse of unescape: it escapes every backslash and sep.
func escape(s string, sep byte) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] == sep {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// A SpecError is how New and ParseSpec reject a spec: a usage error, which names the generator
// type and the parameter at fault but never a generated value.
type SpecError struct {
	// Type is the generator type, "" when the spec has none or an unknown one.
	Type string
	// Param is the parameter at fault, "" when the fault is not one parameter's.
	Param string
	// Reason says what is wrong and, where it can, what would be right.
	Reason string
	// Err is the underlying error, if any (a file that could not be read, a program not found).
	Err error
}

func (e *SpecError) Error() string {
	var b strings.Builder
	b.WriteString("generator")
	if e.Type != "" {
		b.WriteString(" " + e.Type)
	} else {
		b.WriteString(" spec")
	}
	if e.Param != "" {
		b.WriteString(": " + e.Param)
	}
	if e.Reason != "" {
		b.WriteString(": " + e.Reason)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *SpecError) Unwrap() error { return e.Err }
