package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/job"
)

const (
	// fingerprintKeyEnv holds the fingerprint key in hex, for CI where files are awkward.
	fingerprintKeyEnv = "SECRETSHIFT_AUDIT_HMAC_KEY"
	// defaultFingerprintKeyFile is where a generated key is kept, relative to the working
	// directory, so that fingerprints of later runs (plan, migrate, audit) compare equal.
	defaultFingerprintKeyFile = ".secretshift/keys/hmac.key"
)

// fingerprintKey returns the HMAC key for keyed fingerprints — the audit log's HMAC key, so
// that plan, discover and audit fingerprints compare equal — from the first of:
//   - the file at path (--fingerprint-key), hex or base64;
//   - $SECRETSHIFT_AUDIT_HMAC_KEY, the same text;
//   - .secretshift/keys/hmac.key, generated (32 random bytes, hex, mode 0600) on first use,
//     with a notice on notice (warnings go to errOut) — but not while the audit log auditLog exists: its fingerprints
//     are under the key it was started with, and a new one would only be refused later.
//
// Loading is audit.LoadHMACKey's. The key is never printed.
func fingerprintKey(path, auditLog string, getenv func(string) string, errOut, notice io.Writer) ([]byte, error) {
	key, err := audit.LoadHMACKey(path, getenv)
	if errors.Is(err, audit.ErrNoKey) && path == "" {
		if head, herr := audit.ReadHead(audit.HeadPath(auditLog)); herr == nil {
			return nil, fmt.Errorf("%w: %w: no fingerprint key was given, and the audit log %s exists (its fingerprints are under HMAC key %s), so a new key is not made\n"+
				"give the key it was started with: --fingerprint-key FILE, $%s (the key's text), or %s",
				job.ErrAudit, audit.ErrNoKey, auditLog, head.FingerprintKeyID, fingerprintKeyEnv, defaultFingerprintKeyFile)
		}
		key, created, err := audit.CreateHMACKeyFile(defaultFingerprintKeyFile)
		if err != nil {
			return nil, fmt.Errorf("create fingerprint key %s: %w", defaultFingerprintKeyFile, err)
		}
		if created {
			fmt.Fprintf(notice, "generated fingerprint key %s; keep it to compare fingerprints across runs\n", defaultFingerprintKeyFile)
		}
		return key, nil
	}
	if err != nil {
		return nil, err
	}
	file := path
	if file == "" && getenv(fingerprintKeyEnv) == "" {
		file = defaultFingerprintKeyFile
	}
	if info, err := os.Stat(file); file != "" && err == nil && info.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(errOut, "warning: fingerprint key %s is readable by other users (mode %04o); chmod 600 it\n", file, info.Mode().Perm())
	}
	return key, nil
}

// fingerprinter returns an audit.Fingerprinter under the key fingerprintKey finds; auditLog is
// the log the command writes, or the default one.
func (f *factory) fingerprinter(path, auditLog string) (*audit.Fingerprinter, error) {
	getenv := f.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if auditLog == "" {
		auditLog = audit.DefaultLogPath
	}
	key, err := fingerprintKey(path, auditLog, getenv, f.ErrOut, f.status())
	if errors.Is(err, job.ErrAudit) { // the key an existing audit log needs is missing
		return nil, withCode(ExitAudit, err)
	}
	if err != nil {
		return nil, err
	}
	return audit.NewFingerprinter(key)
}
