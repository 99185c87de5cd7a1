package audit

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
)

// Checkpoint is a signed statement "this log held Count records, the last one being Seq with hash
// Head". It is the payload of an audit.checkpoint record and the content of the head file.
// RunID, EventID and Time repeat the envelope of the checkpoint record so that the signature
// covers every field of that record.
type Checkpoint struct {
	Seq     uint64 `json:"seq"`
	Count   uint64 `json:"count"`
	Head    string `json:"head"`
	RunID   string `json:"run_id"`
	EventID string `json:"event_id"`
	Time    string `json:"time"`
	// PublicKeyID names the Ed25519 key pair that signed this checkpoint (see PublicKeyID).
	PublicKeyID string `json:"key_id"`
	// FingerprintKeyID identifies the HMAC key fingerprints were made under, if any.
	FingerprintKeyID string `json:"fingerprint_key_id,omitempty"`
	// Signature is the base64 Ed25519 signature described in the package documentation.
	Signature string `json:"signature"`
}

// checkpointDomain prefixes the signed message so a checkpoint signature cannot be replayed as
// a signature over anything else made with the same key.
const checkpointDomain = "secretshift-audit-checkpoint/v1\n"

// checkpointFields are the only members a checkpoint record may have: all of them are either
// signed (through the checkpoint) or derived (hash), so no part of it can change unnoticed.
var checkpointFields = map[string]bool{
	"time": true, "run_id": true, "event_id": true, "seq": true, "action": true, "outcome": true,
	"checkpoint": true, "prev": true, "hash": true,
}

// checkpoint appends a signed checkpoint covering every record in the file, then replaces the
// head file with it (see writeHead for when it does not). It does nothing when the last record already is a checkpoint of this run,
// or of another run if this Log has recorded nothing: every run that recorded something ends
// with a checkpoint of its own, even when concurrent runs append to the same file.
func (l *Log) checkpoint() error {
	if l.st.checkpoint && (l.st.runID == l.opts.RunID || !l.wrote) {
		return nil
	}
	now := l.opts.Now().UTC()
	cp := Checkpoint{
		Seq:              l.st.seq,
		Count:            l.st.seq,
		Head:             l.st.hash,
		RunID:            l.opts.RunID,
		EventID:          newID(),
		Time:             formatTime(now),
		PublicKeyID:      l.pubKeyID,
		FingerprintKeyID: l.fpKeyID,
	}
	if err := signCheckpoint(&cp, l.opts.Signer); err != nil {
		return fmt.Errorf("%w: sign checkpoint: %w", ErrUnavailable, err)
	}
	rec := &Record{Time: now, RunID: cp.RunID, EventID: cp.EventID, Action: ActionCheckpoint, Outcome: OutcomeSuccess, Checkpoint: &cp}
	if err := l.append(rec); err != nil {
		return err
	}
	l.since = 0
	return l.writeHead(&cp)
}

// signCheckpoint sets cp.Signature, the signature under key of checkpointMessage(cp).
func signCheckpoint(cp *Checkpoint, key ed25519.PrivateKey) error {
	cp.Signature = ""
	obj, err := toObject(cp)
	if err != nil {
		return err
	}
	msg, err := checkpointMessage(obj)
	if err != nil {
		return err
	}
	cp.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, msg))
	return nil
}

// checkpointMessage is what a checkpoint signature covers: the domain string followed by the
// canonical JSON of the checkpoint object without its "signature" member.
func checkpointMessage(cp map[string]any) ([]byte, error) {
	b, err := canonicalWithout(cp, "signature")
	if err != nil {
		return nil, err
	}
	return append([]byte(checkpointDomain), b...), nil
}

// verifySignature reports whether signature is pub's signature of the checkpoint cpObj (as
// parsed from a record or head file).
func verifySignature(pub ed25519.PublicKey, cpObj map[string]any, signature string) bool {
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(sig) != ed25519.SignatureSize || len(pub) != ed25519.PublicKeySize {
		return false
	}
	msg, err := checkpointMessage(cpObj)
	if err != nil {
		return false
	}
	return ed25519.Verify(pub, msg, sig)
}

// checkpointRecordProblem checks a checkpoint record against the checkpoint it carries: no
// member outside checkpointFields, the envelope equal to the signed copy, and the signed seq and
// head naming the record before it. It returns the kind and detail of the first problem, or "".
func checkpointRecordProblem(rec *Record, m map[string]any) (Kind, string) {
	cp := rec.Checkpoint
	if _, ok := m["checkpoint"].(map[string]any); cp == nil || !ok {
		return KindMalformed, "the checkpoint record has no checkpoint"
	}
	for k := range m {
		if !checkpointFields[k] {
			return KindEdited, fmt.Sprintf("the checkpoint record carries %q, which its signature does not cover", safeName(k))
		}
	}
	t, err := parseTime(cp.Time)
	switch {
	case err != nil, !t.Equal(rec.Time), cp.RunID != rec.RunID, cp.EventID != rec.EventID, rec.Outcome != OutcomeSuccess:
		return KindEdited, "the checkpoint record's time, run id, event id or outcome differ from its signed checkpoint"
	case cp.Seq != rec.Seq-1:
		return KindEdited, fmt.Sprintf("the checkpoint covers seq %d, but the record before it is seq %d", cp.Seq, rec.Seq-1)
	case cp.Head != rec.Prev:
		// Every link checked out, so the chain was re-hashed after an edit: the signed head
		// is the one thing that could not be recomputed.
		return KindEdited, fmt.Sprintf("a record at or before seq %d was changed and the chain re-hashed after this checkpoint was signed: the signed head is %s, the chain's is %s",
			cp.Seq, printableID(cp.Head), printableID(rec.Prev))
	}
	return "", ""
}

// checkpointSignatureProblem checks that the checkpoint a record carries (m is the record as
// parsed) names the key pair pubID and that its signature verifies under pub.
func checkpointSignatureProblem(pub ed25519.PublicKey, pubID string, cp *Checkpoint, m map[string]any) (Kind, string) {
	if cp.PublicKeyID != pubID {
		return KindUnknownKey, fmt.Sprintf("the checkpoint was signed by %s, not by the given public key %s", cp.PublicKeyID, pubID)
	}
	cpObj, _ := m["checkpoint"].(map[string]any)
	if !verifySignature(pub, cpObj, cp.Signature) {
		return KindBadSignature, fmt.Sprintf("the checkpoint signature does not verify: records up to seq %d were changed, or the checkpoint was forged", cp.Seq)
	}
	return "", ""
}
