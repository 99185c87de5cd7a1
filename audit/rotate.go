package audit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Rotation is what Rotate did, as `secretshift audit rotate` prints it.
type Rotation struct {
	// Archived is where the sealed file now is.
	Archived string `json:"archived"`
	// Log is the new file, which continues the archived one's chain.
	Log string `json:"log"`
	// PublicKeyID names the key that signs Log from now on.
	PublicKeyID string `json:"publicKeyID"`
	// KeyChanged says the archive was signed by another key, PreviousPublicKeyID.
	KeyChanged bool `json:"keyChanged,omitempty"`
	// PreviousPublicKeyID names the key that signed the archive, as its head file says (a
	// placeholder when that is not a key id); empty without a head file. It is not part of
	// the command's JSON output, whose fields are stable.
	PreviousPublicKeyID string `json:"-"`
}

// archivePath is where Rotate moves the log at path when no archive is given:
// audit-<UTC time>.jsonl in the same folder.
func archivePath(path string, now time.Time) string {
	return filepath.Join(filepath.Dir(path), "audit-"+now.UTC().Format("20060102T150405Z")+".jsonl")
}

// Rotate seals the log at path with a checkpoint, moves it and its head file to archive (and
// archive+".head"; when archive is empty, audit-<UTC time>.jsonl beside path), and starts a new
// file at path whose first record, audit.rotate, has the archived chain's last hash as prev and
// names the archived file. Both files then verify on their own, and VerifySet of the archive and
// path, in that order, also checks the link. The new file may be signed by other keys than the
// archive (opts.Signer); Rotation says which.
func Rotate(path, archive string, opts Options) (Rotation, error) {
	var rot Rotation
	if err := rotate(path, archive, opts, &rot); err != nil {
		return Rotation{}, err
	}
	return rot, nil
}

// rotate is Rotate; it fills rot once the new file is sealed.
func rotate(path, archive string, opts Options, rot *Rotation) error {
	l, err := open(path, opts, false)
	if err != nil {
		return err
	}
	if archive == "" {
		archive = archivePath(path, l.opts.Now())
	}
	// Under keys other than the log's, nothing may be appended to the old file, not even the
	// checkpoint Close would add after a failure.
	var sameKeys error
	prevPubKeyID := ""
	if head, err := ReadHead(l.headPath); err == nil {
		sameKeys = l.checkKeys(head)
		prevPubKeyID = head.PublicKeyID
	}
	abandon := sameKeys != nil
	defer func() {
		if abandon {
			l.mu.Lock()
			l.closed = true
			l.f.Close()
			l.mu.Unlock()
			return
		}
		l.Close()
	}()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.lockFile(context.Background()); err != nil {
		return err
	}
	defer l.unlockFile()
	if err := l.refresh(); err != nil {
		return err
	}
	if l.st.seq == 0 {
		return fmt.Errorf("rotate audit log %s: it has no records", path)
	}
	if _, err := os.Lstat(archive); err == nil {
		return fmt.Errorf("rotate audit log %s: %s already exists", path, archive)
	}
	// New keys may start the new file, but only the keys that signed this one may seal it.
	if !l.st.checkpoint && sameKeys != nil {
		return fmt.Errorf("%w\nthe log does not end with a checkpoint (a run did not finish), so it must be sealed with its own keys: rotate it with them first", sameKeys)
	}
	if err := l.checkpoint(); err != nil {
		return err
	}
	prevHead, prevSeq := l.st.hash, l.st.seq

	if err := os.MkdirAll(filepath.Dir(archive), 0o700); err != nil {
		return fmt.Errorf("rotate audit log %s: %w", path, err)
	}
	if err := os.Rename(path, archive); err != nil {
		return fmt.Errorf("rotate audit log %s: %w", path, err)
	}
	if err := os.Rename(l.headPath, HeadPath(archive)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return l.fail("move head file", err)
	}
	if err := syncDir(filepath.Dir(archive)); err != nil {
		return l.fail("rotate", err)
	}
	nf, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return l.fail("create new audit log", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		nf.Close()
		return l.fail("rotate", err)
	}
	l.f.Close()
	l.f = nf
	abandon = false // the new file is this Log's to seal
	// The new file starts clean: its head file is written again even if the old one failed
	// its integrity check.
	l.integrity = nil
	l.st = tailState{size: 0, seq: 0, hash: prevHead}
	l.synced = 0
	details := map[string]string{
		"previous_log":  filepath.Base(archive),
		"previous_head": prevHead,
		"previous_seq":  strconv.FormatUint(prevSeq, 10),
	}
	// The archive's signing key, when the new file is signed by another one.
	if prevPubKeyID != "" && prevPubKeyID != l.pubKeyID && printableID(prevPubKeyID) == prevPubKeyID {
		details["previous_key_id"] = prevPubKeyID
	}
	rec := l.newRecord(Event{Action: ActionRotate, Outcome: OutcomeSuccess, Details: details})
	if err := l.append(rec); err != nil {
		return err
	}
	if err := l.checkpoint(); err != nil {
		return err
	}
	*rot = Rotation{Archived: archive, Log: path, PublicKeyID: l.pubKeyID, KeyChanged: prevPubKeyID != "" && prevPubKeyID != l.pubKeyID}
	if prevPubKeyID != "" {
		rot.PreviousPublicKeyID = printableID(prevPubKeyID)
	}
	return nil
}
