package audit

import "fmt"

// KeySet is the key names of one Secret with their fingerprints, checked once and encoded once.
// A migration records two or three events per Secret (intent, outcome, maybe verification);
// they share one KeySet, so the log neither re-checks nor re-encodes the keys for each of
// them. A KeySet cannot change after NewKeySet: it holds only their encoding, made there (a
// plan of 100,000 Secrets holds 100,000 KeySets until its writes are recorded).
type KeySet struct {
	keysJSON []byte // `"keys":[…]`, or nil when there are no keys
	fpsJSON  []byte // `"fingerprints":{…}`, or nil when there are none
}

// NewKeySet checks keys and fingerprints against the Event contract (what Record would refuse)
// and returns them as a KeySet. action names the event in errors.
func NewKeySet(action string, keys []string, fingerprints map[string]string) (*KeySet, error) {
	e := Event{Action: action, Outcome: OutcomeAttempt, Keys: keys, Fingerprints: fingerprints}
	if err := e.validateKeys(); err != nil {
		return nil, err
	}
	r := &Record{Keys: keys, Fingerprints: fingerprints}
	return &KeySet{keysJSON: appendMember(nil, r, "keys"), fpsJSON: appendMember(nil, r, "fingerprints")}, nil
}

// encoded returns the members "keys" and "fingerprints" as a record holds them.
func (k *KeySet) encoded() (keysJSON, fpsJSON []byte) { return k.keysJSON, k.fpsJSON }

// validateKeys checks the key names and fingerprints of e.
func (e *Event) validateKeys() error {
	if len(e.Keys) > maxKeys {
		return fmt.Errorf("%w: %s: %d keys is more than %d", ErrInvalidEvent, e.Action, len(e.Keys), maxKeys)
	}
	for _, k := range e.Keys {
		if k == "" {
			return fmt.Errorf("%w: %s: empty key name", ErrInvalidEvent, e.Action)
		}
		if err := checkText(k, maxNameLen); err != nil {
			return fmt.Errorf("%w: %s: key name %v", ErrInvalidEvent, e.Action, err)
		}
	}
	if len(e.Fingerprints) > maxKeys {
		return fmt.Errorf("%w: %s: %d fingerprints is more than %d", ErrInvalidEvent, e.Action, len(e.Fingerprints), maxKeys)
	}
	for k, fp := range e.Fingerprints {
		if err := checkText(k, maxNameLen); err != nil {
			return fmt.Errorf("%w: %s: fingerprint key name %v", ErrInvalidEvent, e.Action, err)
		}
		if !validFingerprint(fp) {
			// The offending string is not quoted: it might be the value itself.
			return fmt.Errorf("%w: %s: fingerprint of key %q is not of the form hmac-sha256:<64 hex digits>", ErrInvalidEvent, e.Action, k)
		}
	}
	return nil
}
