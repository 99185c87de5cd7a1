package audit

import (
	"crypto/sha256"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The writer encodes records without reflection: every record is encoded in two member
// orders (its canonical form to hash, then the line), and the audit log sits on the path of
// every write. Each member is encoded once; the two forms are assembled from the same bytes.
// Verify never uses this code: it parses each line and canonicalises what it parsed, so the
// hash a reader checks does not depend on this encoder being right, only the writer's output
// does (TestEncoderMatchesCanonical compares the two on every shape a record can take).
//
// Strings are written with JCS escaping in both forms, after replacing invalid UTF-8 with
// U+FFFD, so the line parses to exactly the strings that were hashed.

// recordOrder says in which order the top-level members are written.
type recordOrder bool

const (
	// lineOrder is the order of the written line: time first, then the struct's order.
	lineOrder recordOrder = false
	// canonicalOrder sorts members by name (RFC 8785), for the hash.
	canonicalOrder recordOrder = true
)

var (
	lineFields = [...]string{"time", "format_version", "run_id", "event_id", "seq", "action", "outcome", "error_class", "error",
		"actor", "source", "target", "keys", "fingerprints", "details", "checkpoint", "prev", "hash"}
	canonicalFields = [...]string{"action", "actor", "checkpoint", "details", "error", "error_class", "event_id",
		"fingerprints", "format_version", "hash", "keys", "outcome", "prev", "run_id", "seq", "source", "target", "time"}
	// lineIndex lists, in line order, each member's index in canonicalFields.
	lineIndex = func() []int {
		out := make([]int, len(lineFields))
		for i, name := range lineFields {
			out[i] = slices.Index(canonicalFields[:], name)
		}
		return out
	}()
	hashIndex = slices.Index(canonicalFields[:], "hash")
	// canonicalIndex is every member in canonical order (hash is left out while it is empty).
	canonicalIndex = func() []int {
		out := make([]int, len(canonicalFields))
		for i := range out {
			out[i] = i
		}
		return out
	}()
)

// appendRecord appends r as one JSON object (no newline). Empty optional members are left out,
// as the struct tags say; an empty Hash is left out too, which gives the form that is hashed.
func appendRecord(b []byte, r *Record, order recordOrder) []byte {
	var e recordEncoder
	e.encodeMembers(r)
	if order == canonicalOrder {
		return e.assemble(b, canonicalIndex)
	}
	return e.assemble(b, lineIndex)
}

// recordEncoder writes a record's canonical form and its line from one encoding of each
// member. The zero value is ready to use; it is not safe for concurrent use.
type recordEncoder struct {
	members []byte
	spans   [len(canonicalFields)][2]int // per canonicalFields index: start and end in members
	// actor caches the encoding of the last Actor seen, which a Log shares between records.
	actor     *Actor
	actorJSON []byte
}

// encodeMembers encodes every top-level member of r once into e.members and records where each
// one is (an empty span for a member that is left out).
func (e *recordEncoder) encodeMembers(r *Record) {
	e.members = e.members[:0]
	for i, name := range canonicalFields {
		start := len(e.members)
		if ks := r.keySet; ks != nil && (name == "keys" || name == "fingerprints") {
			keysJSON, fpsJSON := ks.encoded()
			if name == "keys" {
				e.members = append(e.members, keysJSON...)
			} else {
				e.members = append(e.members, fpsJSON...)
			}
		} else if name == "actor" && r.Actor != nil {
			if r.Actor != e.actor {
				e.actor, e.actorJSON = r.Actor, appendMember(e.actorJSON[:0], r, name)
			}
			e.members = append(e.members, e.actorJSON...)
		} else {
			e.members = appendMember(e.members, r, name)
		}
		e.spans[i] = [2]int{start, len(e.members)}
	}
}

// encode sets r.Hash from r's canonical form (r.Hash must be empty, so the form leaves it out)
// and appends r's line (without newline) to dst.
func (e *recordEncoder) encode(dst []byte, r *Record) []byte {
	e.encodeMembers(r)
	// The canonical form is assembled after the members, hashed, and dropped again.
	canon := len(e.members)
	e.members = e.assemble(e.members, canonicalIndex)
	sum := sha256.Sum256(e.members[canon:])
	e.members = e.members[:canon]
	r.Hash = prefixedHex(HashPrefix, &sum)
	start := len(e.members)
	e.members = appendMember(e.members, r, "hash")
	e.spans[hashIndex] = [2]int{start, len(e.members)}
	return e.assemble(dst, lineIndex)
}

// assemble appends '{', the members in the given order (absent ones left out) and '}'.
func (e *recordEncoder) assemble(dst []byte, order []int) []byte {
	dst = append(dst, '{')
	more := false
	for _, i := range order {
		sp := e.spans[i]
		if sp[0] == sp[1] {
			continue
		}
		if more {
			dst = append(dst, ',')
		}
		more = true
		dst = append(dst, e.members[sp[0]:sp[1]]...)
	}
	return append(dst, '}')
}

// appendMember appends `"name":value` for one top-level member of r, or nothing when the
// member is left out.
func appendMember(b []byte, r *Record, name string) []byte {
	o := object{b: b}
	switch name {
	case "time":
		o.str(name, formatTime(r.Time))
	case "format_version":
		if r.FormatVersion != 0 {
			o.uint(name, uint64(r.FormatVersion))
		}
	case "run_id":
		o.str(name, r.RunID)
	case "event_id":
		o.str(name, r.EventID)
	case "seq":
		o.uint(name, r.Seq)
	case "action":
		o.str(name, r.Action)
	case "outcome":
		o.str(name, string(r.Outcome))
	case "error_class":
		o.optStr(name, r.ErrorClass)
	case "error":
		o.optStr(name, r.Error)
	case "actor":
		if r.Actor != nil {
			o.key(name)
			o.b = appendActor(o.b, r.Actor)
		}
	case "source":
		if s := r.Source; s != nil {
			o.object(name, func(n *object) {
				n.optStr("cluster", s.Cluster)
				n.optStr("name", s.Name)
				n.optStr("namespace", s.Namespace)
				n.optStr("origin", s.Origin)
				n.optStr("uid", s.UID)
			})
		}
	case "target":
		if t := r.Target; t != nil {
			o.object(name, func(n *object) {
				n.optStr("address", t.Address)
				n.optStr("provider", t.Provider)
				n.optStr("version", t.Version)
			})
		}
	case "keys":
		if len(r.Keys) > 0 {
			o.key(name)
			o.b = append(o.b, '[')
			for i, k := range r.Keys {
				if i > 0 {
					o.b = append(o.b, ',')
				}
				o.b = appendString(o.b, k)
			}
			o.b = append(o.b, ']')
		}
	case "fingerprints":
		if len(r.Fingerprints) > 0 {
			o.key(name)
			o.b = appendStringMap(o.b, r.Fingerprints)
		}
	case "details":
		if len(r.Details) > 0 {
			o.key(name)
			o.b = appendStringMap(o.b, r.Details)
		}
	case "checkpoint":
		if c := r.Checkpoint; c != nil {
			o.object(name, func(n *object) {
				n.uint("count", c.Count)
				n.str("event_id", c.EventID)
				n.optStr("fingerprint_key_id", c.FingerprintKeyID)
				n.str("head", c.Head)
				n.str("key_id", c.PublicKeyID)
				n.str("run_id", c.RunID)
				n.uint("seq", c.Seq)
				n.str("signature", c.Signature)
				n.str("time", c.Time)
			})
		}
	case "prev":
		o.str(name, r.Prev)
	case "hash":
		o.optStr(name, r.Hash)
	}
	return o.b
}

func appendActor(b []byte, a *Actor) []byte {
	o := object{b: append(b, '{')}
	if c := a.CI; c != nil {
		o.object("ci", func(n *object) {
			n.optStr("actor", c.Actor)
			n.optStr("job_id", c.JobID)
			n.str("provider", c.Provider)
			n.optStr("repository", c.Repository)
			n.optStr("run_id", c.RunID)
			n.optStr("url", c.URL)
		})
	}
	o.optStr("host", a.Host)
	o.optStr("kube_user", a.KubeUser)
	o.optStr("os_user", a.OSUser)
	if len(a.Stores) > 0 {
		o.key("stores")
		o.b = appendStoreMap(o.b, a.Stores)
	}
	return append(o.b, '}')
}

// appendStoreMap writes the store identities, kinds and attributes sorted as RFC 8785 sorts
// member names.
func appendStoreMap(b []byte, m map[string]StoreIdentity) []byte {
	kinds := make([]string, 0, len(m))
	for k := range m {
		kinds = append(kinds, k)
	}
	slices.SortFunc(kinds, compareUTF16)
	b = append(b, '{')
	for i, k := range kinds {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendStringMap(b, m[k])
	}
	return append(b, '}')
}

// appendStringMap writes m with its members sorted as RFC 8785 sorts them. Member names were
// checked to be valid UTF-8 (Event.validate), so no two of them are written alike.
func appendStringMap(b []byte, m map[string]string) []byte {
	var small [16]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareUTF16)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}

// object writes the members of one JSON object; the caller writes the braces.
type object struct {
	b    []byte
	more bool
}

func (o *object) key(name string) {
	if o.more {
		o.b = append(o.b, ',')
	}
	o.more = true
	o.b = append(o.b, '"')
	o.b = append(o.b, name...)
	o.b = append(o.b, '"', ':')
}

func (o *object) str(name, v string) {
	o.key(name)
	o.b = appendString(o.b, v)
}

func (o *object) optStr(name, v string) {
	if v != "" {
		o.str(name, v)
	}
}

// object writes member name as an object whose members fill writes.
func (o *object) object(name string, fill func(n *object)) {
	o.key(name)
	n := object{b: append(o.b, '{')}
	fill(&n)
	o.b = append(n.b, '}')
}

func (o *object) uint(name string, v uint64) {
	o.key(name)
	o.b = strconv.AppendUint(o.b, v, 10)
}

// appendString writes s as a JSON string the way RFC 8785 does: only '"', '\' and control
// characters are escaped, with the short forms where JSON has them and \u00xx otherwise.
// Invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			b = append(b, s[start:i]...)
			b = append(b, "\uFFFD"...)
			i++
			start = i
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// compareUTF16 orders strings by their UTF-16 code units, as RFC 8785 sorts member names. It
// differs from byte order only between supplementary characters and U+E000–U+FFFF.
func compareUTF16(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			if (ra >= 0x10000) == (rb >= 0x10000) {
				return int(ra) - int(rb)
			}
			return int(utf16Key(ra)) - int(utf16Key(rb))
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) - len(b)
}

// utf16Key is the first UTF-16 code unit of r, which decides the order of a supplementary
// character and one of the Basic Multilingual Plane.
func utf16Key(r rune) rune {
	if r >= 0x10000 {
		return 0xD800 + (r-0x10000)>>10
	}
	return r
}
