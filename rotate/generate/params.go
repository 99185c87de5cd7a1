package generate

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// params reads one spec's parameters as typed values. Each method returns the parameter's
// value, or def when it is not given; the first bad value is kept in err (a *SpecError naming
// the parameter), and later reads return their defaults, so a constructor reads everything and
// checks err once. Which names are known at all was checked before (New).
type params struct {
	typ string
	m   map[string]string
	err error
}

// fail records a fault of param, unless one was recorded already.
func (p *params) fail(param, format string, args ...any) {
	if p.err == nil {
		p.err = &SpecError{Type: p.typ, Param: param, Reason: fmt.Sprintf(format, args...)}
	}
}

// has reports whether name was given.
func (p *params) has(name string) bool {
	_, ok := p.m[name]
	return ok
}

// onlyWith rejects name when it was given although it does not apply: what says when it does
// ("keyType=rsa only").
func (p *params) onlyWith(name string, applies bool, what string) {
	if p.has(name) && !applies {
		p.fail(name, "applies to %s only", what)
	}
}

// str returns a string parameter.
func (p *params) str(name, def string) string {
	if v, ok := p.m[name]; ok {
		return v
	}
	return def
}

// integer returns an integer parameter in [lo, hi].
func (p *params) integer(name string, def, lo, hi int) int {
	v, ok := p.m[name]
	if !ok {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	switch {
	case err != nil:
		p.fail(name, "%q is not a whole number", v)
		return def
	case n < lo || n > hi:
		p.fail(name, "%d is out of range: use %d to %d", n, lo, hi)
		return def
	}
	return n
}

// boolean returns a boolean parameter.
func (p *params) boolean(name string, def bool) bool {
	v, ok := p.m[name]
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		p.fail(name, "%q is not true or false", v)
		return def
	}
	return b
}

// duration returns a duration parameter in [lo, hi].
func (p *params) duration(name string, def, lo, hi time.Duration) time.Duration {
	v, ok := p.m[name]
	if !ok {
		return def
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	switch {
	case err != nil:
		p.fail(name, "%q is not a duration (such as 90s, 30m or 8760h)", v)
		return def
	case d < lo || d > hi:
		p.fail(name, "%s is out of range: use %s to %s", d, lo, hi)
		return def
	}
	return d
}

// choice returns a parameter that must be one of choices.
func (p *params) choice(name, def string, choices ...string) string {
	v, ok := p.m[name]
	if !ok {
		return def
	}
	for _, c := range choices {
		if v == c {
			return v
		}
	}
	p.fail(name, "%q is not one of %s", v, strings.Join(choices, ", "))
	return def
}

// list returns a list parameter (";"-separated, see JoinList); no item may be empty.
func (p *params) list(name string) []string {
	v, ok := p.m[name]
	if !ok {
		return nil
	}
	items := splitList(v)
	for i, it := range items {
		if it == "" {
			p.fail(name, "item %d is empty (items are separated by \";\")", i+1)
			return nil
		}
	}
	return items
}
