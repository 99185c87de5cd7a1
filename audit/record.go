package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Outcome is how an audited action ended.
type Outcome string

const (
	OutcomeSuccess Outcome = "success"
	OutcomeFailure Outcome = "failure"
	OutcomeSkipped Outcome = "skipped"
	// OutcomeAttempt records the intent to act, written before the action (like the request
	// entry of a Vault audit device); a matching success or failure record follows.
	OutcomeAttempt Outcome = "attempt"
)

// Valid reports whether o is one of the defined outcomes.
func (o Outcome) Valid() bool {
	return o == OutcomeSuccess || o == OutcomeFailure || o == OutcomeSkipped || o == OutcomeAttempt
}

// Conventional action names. Callers may use others of the same shape (lowercase words joined by
// dots); the actions under "audit." are written by this package only, except ActionKeygen.
const (
	ActionPlanCreate = "plan.create"
	// ActionMigrateWrite is a write to a store: the intent (attempt) and its outcome.
	ActionMigrateWrite = "migrate.write"
	// ActionMigrateVerify is the read-back check of a written or already present copy.
	ActionMigrateVerify = "migrate.verify"
	// ActionMigrateConflict is a target that holds another value; nothing was written.
	ActionMigrateConflict = "migrate.conflict"
	// ActionMigrateSkip is a Secret the plan leaves out.
	ActionMigrateSkip = "migrate.skip"
	// ActionVerifyCheck is one comparison of the verify command.
	ActionVerifyCheck = "verify.check"
	// ActionKeygen records the creation of audit keys (`secretshift audit keygen`).
	ActionKeygen = "audit.keygen"
	// ActionCheckpoint marks a signed checkpoint record.
	ActionCheckpoint = "audit.checkpoint"
	// ActionRotate is the first record of a file that continues the chain of a rotated file.
	ActionRotate = "audit.rotate"
	// ActionRecover records that the writer cut an incomplete last line (a write interrupted
	// by a crash) off the file before appending; details give its length and SHA-256.
	ActionRecover = "audit.recover"
)

// reservedActions prefixes the actions this package writes itself.
const reservedActions = "audit."

// Source is the Kubernetes Secret an event is about.
type Source struct {
	// Cluster is the API server URL, or empty for manifests.
	Cluster   string `json:"cluster,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	UID       string `json:"uid,omitempty"`
	// Origin is where the Secret was read from ("path/to/file.yaml#0" or the cluster).
	Origin string `json:"origin,omitempty"`
}

// Ref is namespace/name.
func (s *Source) Ref() string {
	if s == nil {
		return ""
	}
	if s.Namespace == "" {
		return s.Name
	}
	return s.Namespace + "/" + s.Name
}

// StoreTarget is where an event wrote or looked: provider name, address and version.
type StoreTarget struct {
	Provider string `json:"provider,omitempty"`
	Address  string `json:"address,omitempty"`
	Version  string `json:"version,omitempty"`
}

// Record formats. A record names its format in format_version; a record without that member is
// format 1. Checkpoint records carry no format_version: their shape has not changed.
const (
	// RecordFormat1: the actor's Vault identity in actor.vault_display_name and
	// actor.vault_accessor.
	RecordFormat1 = 1
	// RecordFormat2: store identities in actor.stores; records carry format_version.
	RecordFormat2 = 2
	// RecordFormat is the format this package writes.
	RecordFormat = RecordFormat2
)

// checkFormat refuses a record of a format this package does not know, which it could misread.
func checkFormat(r *Record) error {
	switch v := r.FormatVersion; {
	case v == 0 || (v >= RecordFormat2 && v <= RecordFormat):
		return nil
	case v > RecordFormat:
		return fmt.Errorf("record format %d is newer than this version of secretshift reads (up to %d)", v, RecordFormat)
	default:
		return fmt.Errorf("format_version %d is not valid: records of format 1 have none", v)
	}
}

// Event is what a caller records. It has no []byte field on purpose: values must never enter
// the audit log, and the only value-derived data it can carry are keyed fingerprints.
//
// The contract for callers: Error, ErrorClass and Details hold value-free text (names, counts,
// sizes, HTTP statuses, error text that does not quote a value). Keys holds key names, which are
// metadata and logged in clear, as Vault does. Fingerprints maps key names to
// Fingerprinter.Value results. Record refuses events that visibly break this contract (PEM
// blocks, invalid UTF-8, over-long strings, fingerprints of the wrong shape), but it cannot
// recognise an arbitrary value, so the contract stays with the caller.
type Event struct {
	Action       string
	Outcome      Outcome
	ErrorClass   string
	Error        string
	Source       *Source
	Target       *StoreTarget
	Keys         []string
	Fingerprints map[string]string
	// KeySet, instead of Keys and Fingerprints, carries keys and fingerprints checked and
	// encoded once for all the events about one Secret.
	KeySet  *KeySet
	Details map[string]string
}

// Record is one line of the audit log. See the package documentation for the field meanings and
// how Hash is computed.
type Record struct {
	Time time.Time `json:"-"`
	// FormatVersion is the record format, 0 for format 1 (which did not name it).
	FormatVersion int               `json:"format_version,omitempty"`
	RunID         string            `json:"run_id"`
	EventID       string            `json:"event_id"`
	Seq           uint64            `json:"seq"`
	Action        string            `json:"action"`
	Outcome       Outcome           `json:"outcome"`
	ErrorClass    string            `json:"error_class,omitempty"`
	Error         string            `json:"error,omitempty"`
	Actor         *Actor            `json:"actor,omitempty"`
	Source        *Source           `json:"source,omitempty"`
	Target        *StoreTarget      `json:"target,omitempty"`
	Keys          []string          `json:"keys,omitempty"`
	Fingerprints  map[string]string `json:"fingerprints,omitempty"`
	Details       map[string]string `json:"details,omitempty"`
	Checkpoint    *Checkpoint       `json:"checkpoint,omitempty"`
	Prev          string            `json:"prev"`
	Hash          string            `json:"hash,omitempty"`

	// keySet, when set, stands for Keys and Fingerprints (written from its cached encoding).
	keySet *KeySet
}

// recordFields is Record without its methods, so the JSON methods below can reuse the default
// encoding of every other field.
type recordFields Record

// MarshalJSON writes the record as the log holds it: time first, as RFC 3339 UTC with nine
// fractional digits.
func (r Record) MarshalJSON() ([]byte, error) {
	return appendRecord(nil, &r, lineOrder), nil
}

// UnmarshalJSON reads a record written by MarshalJSON.
func (r *Record) UnmarshalJSON(b []byte) error {
	w := struct {
		Time string `json:"time"`
		*recordFields
	}{recordFields: (*recordFields)(r)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	t, err := parseTime(w.Time)
	if err != nil {
		return err
	}
	r.Time = t
	return nil
}

// timeLayout is RFC 3339 with a fixed nine-digit fraction, so every record has sub-second
// precision and times sort as strings.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is not RFC 3339", s)
	}
	return t.UTC(), nil
}

// ErrInvalidEvent is returned by Record for an event that breaks the Event contract. Nothing is
// written for it.
var ErrInvalidEvent = errors.New("invalid audit event")

// Limits for caller-supplied strings. Long free text is where a value would hide; no legitimate
// error message or detail needs more.
const (
	maxTextLen = 2048
	maxNameLen = 512
	// maxKeys admits every Secret the API server would store with a key set that fits a line:
	// key names and values share the 1 MiB limit, so more keys than this are a pathological case.
	maxKeys     = 1 << 16
	maxDetails  = 64
	maxActionLn = 64
)

var runIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,127}$`)

// validAction reports whether s is lowercase words joined by dots, at least two of them:
// [a-z][a-z0-9_-]* followed by one or more (\.[a-z0-9_-]+).
func validAction(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	dots, word := 0, true
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if !word {
				return false
			}
			dots, word = dots+1, false
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '-':
			word = true
		default:
			return false
		}
	}
	return dots > 0 && word
}

// validFingerprint reports whether s is "hmac-sha256:" and 64 lowercase hex digits.
func validFingerprint(s string) bool {
	const prefix = "hmac-sha256:"
	if len(s) != len(prefix)+64 || s[:len(prefix)] != prefix {
		return false
	}
	for i := len(prefix); i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Validate checks e against the Event contract: what Record would refuse with ErrInvalidEvent.
// Callers that must not fail half-way (a migration) check their events before they start.
func (e *Event) Validate() error {
	if len(e.Action) > maxActionLn || !validAction(e.Action) {
		return fmt.Errorf("%w: action %q must be lowercase words joined by dots, like migrate.write", ErrInvalidEvent, e.Action)
	}
	if strings.HasPrefix(e.Action, reservedActions) && e.Action != ActionKeygen {
		return fmt.Errorf("%w: action %s is reserved for the audit log itself", ErrInvalidEvent, e.Action)
	}
	if !e.Outcome.Valid() {
		return fmt.Errorf("%w: %s: outcome %q is not success, failure or skipped", ErrInvalidEvent, e.Action, e.Outcome)
	}
	check := func(field, s string, limit int) error {
		if err := checkText(s, limit); err != nil {
			return fmt.Errorf("%w: %s: %s %v", ErrInvalidEvent, e.Action, field, err)
		}
		return nil
	}
	if err := check("error_class", e.ErrorClass, maxNameLen); err != nil {
		return err
	}
	if err := check("error", e.Error, maxTextLen); err != nil {
		return err
	}
	if s := e.Source; s != nil {
		for _, f := range []struct{ n, v string }{{"source.cluster", s.Cluster}, {"source.namespace", s.Namespace},
			{"source.name", s.Name}, {"source.uid", s.UID}, {"source.origin", s.Origin}} {
			if err := check(f.n, f.v, maxNameLen); err != nil {
				return err
			}
		}
	}
	if t := e.Target; t != nil {
		for _, f := range []struct{ n, v string }{{"target.provider", t.Provider}, {"target.address", t.Address},
			{"target.version", t.Version}} {
			if err := check(f.n, f.v, maxNameLen); err != nil {
				return err
			}
		}
	}
	if e.KeySet != nil && (len(e.Keys) > 0 || len(e.Fingerprints) > 0) {
		return fmt.Errorf("%w: %s: an event carries keys either in KeySet or in Keys and Fingerprints, not both", ErrInvalidEvent, e.Action)
	}
	// A KeySet was checked when it was made and cannot change since.
	if err := e.validateKeys(); err != nil {
		return err
	}
	if len(e.Details) > maxDetails {
		return fmt.Errorf("%w: %s: %d details is more than %d", ErrInvalidEvent, e.Action, len(e.Details), maxDetails)
	}
	for k, v := range e.Details {
		if err := check("detail name", k, maxNameLen); err != nil {
			return err
		}
		if err := check("detail "+safeName(k), v, maxTextLen); err != nil {
			return err
		}
	}
	return nil
}

// checkText refuses strings that cannot be value-free text: invalid UTF-8 (binary data), PEM
// blocks (certificates and private keys are the commonest large secrets), NUL bytes, and text
// longer than limit. The error never quotes s.
func checkText(s string, limit int) error {
	switch {
	case len(s) > limit:
		return fmt.Errorf("is %d bytes, more than %d", len(s), limit)
	case !utf8.ValidString(s):
		return errors.New("is not valid UTF-8 (binary data?)")
	case strings.ContainsRune(s, 0):
		return errors.New("contains a NUL byte")
	case strings.Contains(s, "-----BEGIN"):
		return errors.New("contains a PEM block")
	}
	return nil
}

// safeName returns s for an error message if it is short printable text, else a placeholder.
func safeName(s string) string {
	if len(s) > 64 || !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 }) {
		return "(unprintable name)"
	}
	return s
}
