package crash

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/reliability/internal/brief"
	"github.com/secretshift/secretshift/reliability/internal/vaultkv"
)

// rotationPolicy rotates one key of most of a corpus's Vault entries: setting-0 of every
// app-config Secret, note of every blob. The odd-keys Secrets match no rule and must be left
// as they are.
const rotationPolicy = `apiVersion: secretshift.io/v1alpha1
kind: RotationPolicy
defaults: {maxAge: 30d, restart: none}
rotations:
- name: settings
  store: vault
  match: {paths: ["secret/crash-*/app-config-*"]}
  keys:
    setting-0: {generator: password, length: 24}
- name: blobs
  store: vault
  match: {paths: ["secret/crash-*/blob-*"]}
  keys:
    note: {generator: password, length: 24}
`

// rotatedKey is the key rotationPolicy rotates in s, or "" when it rotates none.
func rotatedKey(s *Secret) string {
	for prefix, key := range map[string]string{"app-config-": "setting-0", "blob-": "note"} {
		if len(s.Name) > len(prefix) && s.Name[:len(prefix)] == prefix {
			if _, ok := s.Data[key]; ok {
				return key
			}
		}
	}
	return ""
}

// prepare makes the store a trial's command starts from. For rotation trials: the corpus
// migrated into Vault by an uncrashed run, and the policy file.
func (w *workspace) prepare(bin string) error {
	if w.store != Rotate {
		return nil
	}
	if err := os.WriteFile(filepath.Join(w.dir, "rotation.yaml"), []byte(rotationPolicy), 0o600); err != nil {
		return err
	}
	args := []string{"migrate", "--to", "vault", "-f", "in", "--audit-log", auditLog, "--journal-dir", "journal", "-q"}
	code, _, stderr, err := w.run(bin, args...)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("migrate before the rotation exited %d: %s", code, firstLine(stderr))
	}
	return nil
}

// args is the command every run of a trial repeats.
func (w *workspace) args() []string {
	if w.store == Rotate {
		return []string{"rotate", "--policy", "rotation.yaml", "--audit-log", auditLog, "--journal-dir", "journal", "-q", "-o", "json"}
	}
	return w.migrateArgs()
}

// doneRecord is the start of an audit line that says a write of the trial's command is done.
func (w *workspace) doneRecord() []byte {
	if w.store == Rotate {
		return []byte(`"action":"rotate.promote","outcome":"success"`)
	}
	return []byte(`"action":"migrate.write","outcome":"success"`)
}

// promotions reads, per Vault address, the rotate.promote success records of the audit log
// (a promotion, or one an earlier run made and a later one recorded) and the fingerprint the
// last of them names.
func promotions(path string) (count map[string]int, fingerprint map[string]string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	count, fingerprint = map[string]int{}, map[string]string{}
	rd := audit.NewReader(f)
	for {
		rec, _, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return count, fingerprint, nil
		}
		if err != nil {
			return count, fingerprint, err
		}
		if rec.Action == "rotate.promote" && rec.Outcome == audit.OutcomeSuccess && rec.Target != nil {
			count[rec.Target.Address]++
			fingerprint[rec.Target.Address] = rec.Details["fingerprint"]
		}
	}
}

// checkRotate reads every entry through Vault's HTTP API. An entry the policy rotates must be
// at version 2 exactly (rotated once, however often the run was started), its rotated key must
// differ from the source, every other key must be the source's byte for byte, its values must
// be those the audit trail's promotion names (keyed fingerprint), and the audit trail must
// name its promotion exactly once. Any other entry must be untouched: version 1, the source's
// values, no promotion on record.
func (w *workspace) checkRotate(t *Trial, problem func(string, ...any)) {
	count, fps, err := promotions(filepath.Join(w.dir, auditLog))
	if err != nil {
		problem("read audit log: %v", err)
	}
	fp, err := audit.LoadFingerprinter(filepath.Join(w.dir, audit.DefaultKeyDir, audit.HMACKeyFile), func(string) string { return "" })
	if err != nil {
		problem("fingerprint key: %v", err)
		return
	}
	client := &http.Client{Timeout: 10 * time.Second}
	var lost, twice, differ, unread, missing, again []string
	var lastErr error
	for _, s := range w.secrets {
		path := s.Namespace + "/" + s.Name
		addr := "secret/" + path
		key := rotatedKey(s)
		e, err := w.vault.Read(client, path)
		switch {
		case errors.Is(err, vaultkv.ErrNotStored):
			lost = append(lost, s.Ref())
			continue
		case err != nil:
			unread, lastErr = append(unread, s.Ref()), err
			continue
		}
		versions := 1
		if key != "" {
			versions = 2
		}
		if e.CurrentVersion != versions || e.Versions != versions {
			twice = append(twice, fmt.Sprintf("%s (current version %d, %d versions; want %d)", s.Ref(), e.CurrentVersion, e.Versions, versions))
		}
		switch n := count[addr]; {
		case key != "" && n == 0:
			missing = append(missing, s.Ref())
		case key != "" && n > 1, key == "" && n > 0:
			again = append(again, fmt.Sprintf("%s (%d promotions)", s.Ref(), n))
		}
		got, err := e.Values()
		if err != nil {
			differ = append(differ, s.Ref()+" ("+err.Error()+")")
			continue
		}
		if why := rotatedValues(s, key, got); why != "" {
			differ = append(differ, s.Ref()+" ("+why+")")
			continue
		}
		if key != "" && fp.Set("Opaque", got) != fps[addr] {
			differ = append(differ, s.Ref()+" (its values are not those its promotion record names)")
		}
	}
	t.Lost, t.Duplicates, t.Mismatched = len(lost)+len(unread), len(twice), len(differ)
	t.AuditMissing, t.AuditTwice = len(missing), len(again)
	t.AuditOnce = len(w.secrets) - len(missing) - len(again)
	if len(unread) > 0 {
		problem("%d entries could not be read from vault (last error: %v): %s", len(unread), lastErr, brief.Names(unread))
	}
	if len(lost) > 0 {
		problem("%d entries lost: %s", len(lost), brief.Names(lost))
	}
	if len(twice) > 0 {
		problem("%d entries at another version than one rotation makes: %s", len(twice), brief.Names(twice))
	}
	if len(differ) > 0 {
		problem("%d entries hold other values than they should: %s", len(differ), brief.Names(differ))
	}
	if len(missing) > 0 {
		problem("the audit trail names no promotion of %d rotated entries: %s", len(missing), brief.Names(missing))
	}
	if len(again) > 0 {
		problem("the audit trail names %d entries promoted more than once, or without a rule: %s", len(again), brief.Names(again))
	}
}

// rotatedValues says how got differs from s's values with key rotated ("" for none: no key
// rotated, got must be the source), or "" when it is as it should be. It names keys, never
// values.
func rotatedValues(s *Secret, key string, got map[string][]byte) string {
	if len(got) != len(s.Data) {
		return fmt.Sprintf("%d keys, the source has %d", len(got), len(s.Data))
	}
	for k, v := range s.Data {
		g, ok := got[k]
		switch {
		case !ok:
			return fmt.Sprintf("no key %q", k)
		case k == key && string(g) == string(v):
			return fmt.Sprintf("key %q was not rotated", k)
		case k == key && len(g) != 24:
			return fmt.Sprintf("key %q holds %d bytes, the policy makes 24", k, len(g))
		case k != key && string(g) != string(v):
			return fmt.Sprintf("key %q differs", k)
		}
	}
	return ""
}

// rerunRotation runs the rotation again after the kill, unless the killed run had finished
// (a run started again after a whole rotation rotates again, as it should), and checks the
// store, the audit trail and `secretshift audit verify`.
func (w *workspace) rerunRotation(bin string, t *Trial, problem func(string, ...any)) {
	t.RerunCounts = map[string]int{}
	if t.Killed {
		code, out, stderr, err := w.run(bin, w.args()...)
		t.RerunExit = code
		if err != nil {
			problem("re-run: %v", err)
			return
		}
		if code != 0 {
			problem("re-run exited %d: %s", code, firstLine(stderr))
		}
		var rep struct {
			Counts map[string]int `json:"counts"`
		}
		if err := json.Unmarshal(out, &rep); err != nil {
			problem("re-run report (-o json): %v", err)
		}
		for k, v := range rep.Counts {
			t.RerunCounts[k] = v
		}
	}
	w.checkRotate(t, problem)
	code, _, stderr, err := w.run(bin, "audit", "verify", "--audit-log", auditLog)
	if t.AuditVerifyExit = code; err != nil || code != 0 {
		problem("secretshift audit verify exited %d (%v): %s", code, err, firstLine(stderr))
	}
}
