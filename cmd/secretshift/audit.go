package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/secretshift/secretshift/audit"
)

// auditKeyFlags are the key file flags shared by the audit subcommands. Empty means: the
// environment variable, then the default key file.
type auditKeyFlags struct {
	HMACKey    string
	SigningKey string
	PublicKey  string
}

func newAuditCmd(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Create audit keys, verify, export and rotate the tamper-evident audit log",
		Long: `The audit log (default ` + audit.DefaultLogPath + `) records every action secretshift takes, one JSON
object per line. Records are hash-chained and sealed by Ed25519-signed checkpoints; secret values
never appear, only key names and keyed HMAC-SHA256 fingerprints.

Keys come from flags, else from environment variables holding the key file contents
(` + audit.EnvHMACKey + `, ` + audit.EnvSigningKey + `, ` + audit.EnvPublicKey + `),
else from ` + audit.DefaultKeyDir + `/.

Exit status: 0 success; 1 a file or key cannot be read or written; 2 bad flags; 5 audit verify
found the log altered.`,
		Example: `  secretshift audit keygen
  secretshift audit verify --public-key audit-signing.pub
  secretshift audit export --format ocsf --since 24h > audit.ocsf.jsonl
  secretshift audit rotate --to audit-2026-11.jsonl`,
	}
	cmd.AddCommand(
		newAuditKeygenCmd(f),
		newAuditVerifyCmd(f),
		newAuditExportCmd(f),
		newAuditFingerprintCmd(f),
		newAuditRotateCmd(f),
	)
	return cmd
}

// keygen

type auditKeygenOptions struct {
	Dir      string
	Log      string
	NoRecord bool
}

type keygenResult struct {
	Files            audit.KeyFiles `json:"files"`
	Created          []string       `json:"created"`
	PublicKeyID      string         `json:"publicKeyID"`
	FingerprintKeyID string         `json:"fingerprintKeyID"`
	RecordedIn       string         `json:"recordedIn,omitempty"`
}

func newAuditKeygenCmd(f *factory) *cobra.Command {
	opts := &auditKeygenOptions{}
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Create the audit HMAC key and Ed25519 signing key pair",
		Long: `Create an HMAC key for fingerprints (` + audit.HMACKeyFile + `, secret), an Ed25519 signing key
(` + audit.SigningKeyFile + `, secret) and its public key (` + audit.PublicKeyFile + `, share it with
whoever verifies the log). Existing key files are kept, never replaced (an HMAC key that plan created
on first use stays, so earlier fingerprints still match).

When the audit log does not exist yet (or is empty), an audit.keygen record naming the new key ids
starts it. Keep the signing key away from whoever could edit the log, for example only in CI secrets.

Exit status: 0 keys exist (created now or before); 1 a key file or the log cannot be written;
2 bad flags.`,
		Example: `  secretshift audit keygen
  secretshift audit keygen --dir /secure/keys --audit-log /var/log/secretshift/audit.jsonl
  # in CI, hand the keys over as variables holding their text:
  export SECRETSHIFT_AUDIT_SIGNING_KEY="$(cat .secretshift/keys/audit-signing.key)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return auditKeygenRun(cmd.Context(), f, opts) },
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", audit.DefaultKeyDir, "directory for the key files")
	cmd.Flags().StringVar(&opts.Log, "audit-log", audit.DefaultLogPath, "audit log to start with an audit.keygen record")
	cmd.Flags().BoolVar(&opts.NoRecord, "no-record", false, "do not write the audit.keygen record")
	return cmd
}

func auditKeygenRun(ctx context.Context, f *factory, opts *auditKeygenOptions) error {
	files, created, err := audit.Keygen(opts.Dir)
	if err != nil {
		return err
	}
	noEnv := func(string) string { return "" }
	signer, err := audit.LoadSigner(files.SigningKey, noEnv)
	if err != nil {
		return err
	}
	fp, err := audit.LoadFingerprinter(files.HMACKey, noEnv)
	if err != nil {
		return err
	}
	res := keygenResult{Files: files, Created: created, PublicKeyID: audit.PublicKeyID(signer.Public().(ed25519.PublicKey)), FingerprintKeyID: fp.KeyID()}

	if !opts.NoRecord {
		if info, err := os.Stat(opts.Log); err == nil && info.Size() > 0 {
			fmt.Fprintf(f.status(), "note: %s already has records; not adding an audit.keygen record to it.\n"+
				"  If its checkpoints were signed with another key, start a new file with `secretshift audit rotate`.\n", opts.Log)
		} else {
			if err := recordKeygen(ctx, opts.Log, signer, fp, res); err != nil {
				return withCode(ExitAudit, err)
			}
			res.RecordedIn = opts.Log
		}
	}

	return f.render(res, func() error {
		state := func(p string) string {
			if slices.Contains(created, p) {
				return "created"
			}
			return "kept"
		}
		fmt.Fprintf(f.Out, "hmac key:     %s (%s, %s)\n", files.HMACKey, state(files.HMACKey), res.FingerprintKeyID)
		fmt.Fprintf(f.Out, "signing key:  %s (%s)\n", files.SigningKey, state(files.SigningKey))
		fmt.Fprintf(f.Out, "public key:   %s (%s, %s)\n", files.PublicKey, state(files.PublicKey), res.PublicKeyID)
		if res.RecordedIn != "" {
			fmt.Fprintf(f.Out, "audit log:    %s (started with an audit.keygen record)\n", res.RecordedIn)
		}
		fmt.Fprintf(f.status(), "Keep %s and %s secret; share %s with verifiers.\n", files.HMACKey, files.SigningKey, files.PublicKey)
		return nil
	})
}

func recordKeygen(ctx context.Context, path string, signer ed25519.PrivateKey, fp *audit.Fingerprinter, res keygenResult) error {
	l, err := audit.Open(path, audit.Options{Signer: signer, Fingerprinter: fp})
	if err != nil {
		return err
	}
	err = l.Record(ctx, audit.Event{Action: audit.ActionKeygen, Outcome: audit.OutcomeSuccess, Details: map[string]string{
		"public_key_id":      res.PublicKeyID,
		"fingerprint_key_id": res.FingerprintKeyID,
		"key_dir":            filepath.Dir(res.Files.SigningKey),
	}})
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	return err
}

// verify

type auditVerifyOptions struct {
	Logs              []string
	Head              string
	NoHead            bool
	AllowUnsignedTail bool
	Keys              auditKeyFlags
	// PublicKeys are --public-key files; each log file is checked with the one that signed it.
	PublicKeys []string
}

// verifyResult is the outcome for one log file.
type verifyResult struct {
	Log     string        `json:"log"`
	Head    string        `json:"head,omitempty"`
	OK      bool          `json:"ok"`
	Report  *audit.Report `json:"report,omitempty"`
	Error   string        `json:"error,omitempty"`
	Warning string        `json:"warning,omitempty"`
}

type verifyOutput struct {
	OK   bool           `json:"ok"`
	Logs []verifyResult `json:"logs"`
}

func newAuditVerifyCmd(f *factory) *cobra.Command {
	opts := &auditVerifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain, checkpoint signatures and head file",
		Long: `Verify every record of the audit log: its hash, the chain to the record before it, the sequence
numbers, and each checkpoint's Ed25519 signature. The head file (<log>.head) is compared with the
log, so removing whole runs from the end is detected too. Records after the last checkpoint (a run
that crashed) fail verification unless --allow-unsigned-tail is given.

Give --audit-log several times, oldest first, to verify rotated files and the links between them.
Give --public-key several times when the files were signed by different keys (audit rotate
can start a new file under new keys): each file is checked with the key that signed it.

Exit status: 0 when every file verifies, 5 when verification fails, 1 when a file or key cannot be read.`,
		Example: `  secretshift audit verify
  secretshift audit verify --audit-log audit-2025-01.jsonl --audit-log audit.jsonl --public-key audit-signing.pub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return auditVerifyRun(f, opts) },
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.Logs, "audit-log", []string{audit.DefaultLogPath}, "audit log file (repeat for rotated files, oldest first)")
	fl.StringVar(&opts.Head, "head", "", "head file to compare with (default: <log>.head; only with one --audit-log)")
	fl.BoolVar(&opts.NoHead, "no-head", false, "do not require a head file (truncation of whole runs is then not detected)")
	fl.BoolVar(&opts.AllowUnsignedTail, "allow-unsigned-tail", false, "accept records after the last checkpoint (a run that did not finish)")
	fl.StringArrayVar(&opts.PublicKeys, "public-key", nil, "Ed25519 public key file, repeatable (default: the key text in $"+audit.EnvPublicKey+", else "+audit.DefaultKeyDir+"/"+audit.PublicKeyFile+")")
	fl.StringVar(&opts.Keys.SigningKey, "audit-signing-key", "", "derive the public key from this signing key when no public key is found")
	return cmd
}

// loadVerifier finds the public key, falling back to the signing key's public half.
func loadVerifier(f *factory, keys auditKeyFlags) (ed25519.PublicKey, error) {
	pub, err := audit.LoadVerifier(keys.PublicKey, f.Getenv)
	if err == nil || !errors.Is(err, audit.ErrNoKey) {
		return pub, err
	}
	priv, serr := audit.LoadSigner(keys.SigningKey, f.Getenv)
	if serr != nil {
		return nil, err
	}
	return priv.Public().(ed25519.PublicKey), nil
}

func auditVerifyRun(f *factory, opts *auditVerifyOptions) error {
	if opts.Head != "" && len(opts.Logs) != 1 {
		return usageError("--head works with exactly one --audit-log")
	}
	if opts.Head != "" && opts.NoHead {
		return usageError("--head and --no-head exclude each other")
	}
	var pubs []ed25519.PublicKey
	if len(opts.PublicKeys) == 0 {
		pub, err := loadVerifier(f, opts.Keys)
		if err != nil {
			return err
		}
		pubs = append(pubs, pub)
	}
	for _, file := range opts.PublicKeys {
		pub, err := audit.LoadVerifier(file, f.Getenv)
		if err != nil {
			return err
		}
		pubs = append(pubs, pub)
	}

	out := verifyOutput{OK: true}
	var prev *audit.Report
	for i, path := range opts.Logs {
		res, err := verifyOne(path, pubs, opts)
		if err != nil {
			return err
		}
		// The link is checked between files that verified: a failed one's report ends early.
		if i > 0 && prev != nil && res.Report != nil && res.OK {
			if err := audit.VerifyLink(*prev, *res.Report); err != nil {
				res.OK = false
				res.Error = fmt.Sprintf("does not continue %s: %v", opts.Logs[i-1], err)
			}
		}
		prev = nil
		if res.OK {
			prev = res.Report
		}
		out.OK = out.OK && res.OK
		out.Logs = append(out.Logs, res)
	}

	err := f.render(out, func() error {
		for _, r := range out.Logs {
			printVerifyResult(f.Out, r)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range out.Logs {
		if r.Warning != "" {
			fmt.Fprintf(f.ErrOut, "warning: %s: %s\n", r.Log, r.Warning)
		}
	}
	if !out.OK {
		return withCode(ExitVerify, errors.New("audit log verification failed"))
	}
	return nil
}

func verifyOne(path string, pubs []ed25519.PublicKey, opts *auditVerifyOptions) (verifyResult, error) {
	res := verifyResult{Log: path}
	b, err := os.ReadFile(path)
	if err != nil {
		return res, fmt.Errorf("read audit log: %w", err)
	}
	var head *audit.Checkpoint
	if !opts.NoHead {
		res.Head = opts.Head
		if res.Head == "" {
			res.Head = audit.HeadPath(path)
		}
		head, err = audit.ReadHead(res.Head)
		switch {
		case errors.Is(err, fs.ErrNotExist) && len(b) == 0 && opts.Head == "":
			res.Head = "" // a log that was never written has no head yet
		case errors.Is(err, fs.ErrNotExist):
			res.Error = fmt.Sprintf("head file %s is missing, so removal of whole runs cannot be ruled out (use --no-head to check the log alone)", res.Head)
			return res, nil
		case err != nil:
			res.Error = err.Error()
			return res, nil
		}
	}
	rep := verifyWith(b, pubs, head)
	res.Report = &rep
	res.OK = rep.OK
	if rep.Problem != nil {
		res.Error = rep.Problem.Error()
		if opts.AllowUnsignedTail && rep.Problem.Kind == audit.KindUnsignedTail {
			res.OK, res.Error = true, ""
			res.Warning = fmt.Sprintf("%d records at the end are not covered by a checkpoint", rep.UnsignedTail)
		}
	}
	if rep.Records == 0 && res.OK {
		res.Warning = "the log is empty"
	}
	if opts.NoHead && res.OK {
		res.Warning = strings.TrimPrefix(res.Warning+"; not compared with a head file", "; ")
	}
	return res, nil
}

// verifyWith verifies log with the key that signed it: the one its head file names, else the
// first the log does not refuse as unknown (the last key's report when none fits).
func verifyWith(log []byte, pubs []ed25519.PublicKey, head *audit.Checkpoint) audit.Report {
	if head != nil {
		for _, pub := range pubs {
			if audit.PublicKeyID(pub) == head.PublicKeyID {
				return audit.Verify(bytes.NewReader(log), pub, head)
			}
		}
	}
	var rep audit.Report
	for _, pub := range pubs {
		rep = audit.Verify(bytes.NewReader(log), pub, head)
		if rep.Problem == nil || rep.Problem.Kind != audit.KindUnknownKey {
			break
		}
	}
	return rep
}

func printVerifyResult(w io.Writer, r verifyResult) {
	if !r.OK {
		fmt.Fprintf(w, "%s: FAILED: %s\n", r.Log, r.Error)
		return
	}
	rep := r.Report
	fmt.Fprintf(w, "%s: OK: %s in %s, %s, signed through seq %d, key %s\n",
		r.Log, plural(rep.Records, "record"), plural(rep.Runs, "run"), plural(rep.Checkpoints, "checkpoint"), rep.SignedThrough, rep.PublicKeyID)
}

// export

type auditExportOptions struct {
	Format   string
	Since    string
	Until    string
	Actions  []string
	Outcomes []string
	Logs     []string
	Now      func() time.Time
}

func newAuditExportCmd(f *factory) *cobra.Command {
	opts := &auditExportOptions{Now: time.Now}
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write audit records as JSON Lines, CSV, OCSF or CEF for a SIEM",
		Long: `Write the records of the audit log to stdout in one of these formats:

  jsonl  the log lines unchanged (an unfiltered export still verifies)
  csv    one row per record with a header; nested fields flattened or JSON-encoded
  ocsf   one OCSF 1.3.0 API Activity (class 6003) event per line
  cef    one ArcSight CEF line per record (send it through syslog)

Export does not verify the log; run 'secretshift audit verify' first.

Exit status: 0 exported; 1 a log cannot be read or holds a line verify cannot parse; 2 bad flags.`,
		Example: `  secretshift audit export --format ocsf --since 24h > audit.ocsf.jsonl
  secretshift audit export --format csv --action 'migrate.*' --outcome failure`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return auditExportRun(f, opts) },
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Format, "format", string(audit.FormatJSONL), "jsonl, csv, ocsf or cef")
	fl.StringVar(&opts.Since, "since", "", "only records at or after this time (RFC 3339, a date, or a duration ago like 24h or 7d)")
	fl.StringVar(&opts.Until, "until", "", "only records before this time (RFC 3339, a date, or a duration ago)")
	fl.StringSliceVar(&opts.Actions, "action", nil, "only these actions; patterns like 'migrate.*' allowed (repeatable)")
	fl.StringSliceVar(&opts.Outcomes, "outcome", nil, "only these outcomes: success, failure, skipped, attempt (repeatable)")
	fl.StringArrayVar(&opts.Logs, "audit-log", []string{audit.DefaultLogPath}, "audit log file (repeat for rotated files, oldest first)")
	completeWords(cmd, "format", string(audit.FormatJSONL), string(audit.FormatCSV), string(audit.FormatOCSF), string(audit.FormatCEF))
	completeWords(cmd, "outcome", string(audit.OutcomeSuccess), string(audit.OutcomeFailure), string(audit.OutcomeSkipped), string(audit.OutcomeAttempt))
	return cmd
}

func auditExportRun(f *factory, opts *auditExportOptions) error {
	format, err := audit.ParseFormat(opts.Format)
	if err != nil {
		return usageError("%v", err)
	}
	filter := audit.Filter{Actions: opts.Actions}
	now := opts.Now()
	if filter.Since, err = parseTimeFlag(opts.Since, now); err != nil {
		return usageError("--since: %v", err)
	}
	if filter.Until, err = parseTimeFlag(opts.Until, now); err != nil {
		return usageError("--until: %v", err)
	}
	if !filter.Since.IsZero() && !filter.Until.IsZero() && !filter.Since.Before(filter.Until) {
		return usageError("--since %s is not before --until %s: no record could match", filter.Since.UTC().Format(time.RFC3339), filter.Until.UTC().Format(time.RFC3339))
	}
	for _, o := range opts.Outcomes {
		out := audit.Outcome(strings.ToLower(o))
		if !out.Valid() {
			return usageError("--outcome %q: use success, failure, skipped or attempt", o)
		}
		filter.Outcomes = append(filter.Outcomes, out)
	}

	readers := make([]io.Reader, 0, len(opts.Logs))
	for _, path := range opts.Logs {
		file, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("read audit log: %w", err)
		}
		defer file.Close()
		readers = append(readers, file)
	}
	n, err := audit.Export(f.Out, io.MultiReader(readers...), audit.ExportOptions{
		Format:         format,
		Filter:         filter,
		ProductVersion: currentVersion().Version,
	})
	if err != nil {
		return fmt.Errorf("export audit log: %w", err)
	}
	if f.Verbose > 0 {
		fmt.Fprintf(f.status(), "exported %d records\n", n)
	}
	return nil
}

// parseTimeFlag accepts RFC 3339, a date (YYYY-MM-DD, UTC) or a duration before now: Go's
// (90m, 24h) or a number of days or weeks (7d, 2w).
func parseTimeFlag(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if n := len(s); n > 1 && (s[n-1] == 'd' || s[n-1] == 'w') {
		if k, err := strconv.Atoi(s[:n-1]); err == nil && k >= 0 && k <= 100*366 {
			days := k
			if s[n-1] == 'w' {
				days = 7 * k
			}
			return now.AddDate(0, 0, -days), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time, a date or a duration (24h, 7d, 2w)", s)
}

// fingerprint

type auditFingerprintOptions struct {
	TrimNewline bool
	Keys        auditKeyFlags
}

// maxFingerprintInput is larger than any Kubernetes Secret (1 MiB), with room for encodings.
const maxFingerprintInput = 16 << 20

func newAuditFingerprintCmd(f *factory) *cobra.Command {
	opts := &auditFingerprintOptions{}
	cmd := &cobra.Command{
		Use:   "fingerprint",
		Short: "Print the keyed fingerprint of a value read from stdin",
		Long: `Read one value from stdin and print its fingerprint, hmac-sha256:<hex>, under the audit HMAC key:
the same fingerprint the audit log and plans show for that value (like Vault's sys/audit-hash).
Use it to check whether a known value is the one that was migrated, without the log holding it.

All of stdin is the value, byte for byte; --trim-newline removes one trailing newline (as echo
adds). On a terminal the value is read without echo, up to the end of the line.

Exit status: 0 printed; 1 no key or no value; 2 bad flags.`,
		Example: `  printf '%s' "$DB_PASSWORD" | secretshift audit fingerprint
  kubectl get secret db -o jsonpath='{.data.password}' | base64 -d | secretshift audit fingerprint`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return auditFingerprintRun(f, opts) },
	}
	cmd.Flags().BoolVar(&opts.TrimNewline, "trim-newline", false, "remove one trailing newline (\\n or \\r\\n) from the value")
	cmd.Flags().StringVar(&opts.Keys.HMACKey, "fingerprint-key", "", "HMAC key file (default: $"+audit.EnvHMACKey+", "+audit.DefaultKeyDir+"/"+audit.HMACKeyFile+")")
	return cmd
}

func auditFingerprintRun(f *factory, opts *auditFingerprintOptions) error {
	fp, err := audit.LoadFingerprinter(opts.Keys.HMACKey, f.Getenv)
	if err != nil {
		return err
	}
	value, err := readValue(f)
	if err != nil {
		return err
	}
	if opts.TrimNewline {
		if bytes.HasSuffix(value, []byte("\r\n")) {
			value = value[:len(value)-2]
		} else if bytes.HasSuffix(value, []byte("\n")) {
			value = value[:len(value)-1]
		}
	}
	_, err = fmt.Fprintln(f.Out, fp.Value(value))
	clear(value)
	return err
}

// readValue reads the value from stdin: without echo from a terminal, else all of it.
func readValue(f *factory) ([]byte, error) {
	if file, ok := f.In.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
		fmt.Fprint(f.ErrOut, "value (not echoed): ")
		v, err := term.ReadPassword(int(file.Fd()))
		fmt.Fprintln(f.ErrOut)
		if err != nil {
			return nil, fmt.Errorf("read value from terminal: %w", err)
		}
		return v, nil
	}
	v, err := io.ReadAll(io.LimitReader(f.In, maxFingerprintInput+1))
	if err != nil {
		return nil, fmt.Errorf("read value from stdin: %w", err)
	}
	if len(v) > maxFingerprintInput {
		return nil, fmt.Errorf("value on stdin is larger than %d bytes", maxFingerprintInput)
	}
	return v, nil
}

// rotate

type auditRotateOptions struct {
	Log  string
	To   string
	Keys auditKeyFlags
	Now  func() time.Time
}

func newAuditRotateCmd(f *factory) *cobra.Command {
	opts := &auditRotateOptions{Now: time.Now}
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Archive the audit log and start a new file that continues its chain",
		Long: `Seal the audit log with a checkpoint, move it and its head file to --to (default:
audit-<UTC time>.jsonl beside it), and start a new log whose first record (audit.rotate) links to
the archived file's last record. Use it to bound file size or to start signing with a new key.
Verify the set with: secretshift audit verify --audit-log <archived> --audit-log <current>.

Exit status: 0 rotated; 1 the log cannot be sealed or moved (for example it does not verify at its
end, or the keys do not match it); 2 bad flags; 6 the new log cannot be written.`,
		Example: `  secretshift audit rotate
  secretshift audit rotate --to audit-2026-11.jsonl
  # start signing with new keys: the archive stays sealed by the old one
  secretshift audit keygen --dir new-keys && secretshift audit rotate --audit-signing-key new-keys/audit-signing.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return auditRotateRun(f, opts) },
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Log, "audit-log", audit.DefaultLogPath, "audit log file to rotate")
	fl.StringVar(&opts.To, "to", "", "path for the archived file")
	fl.StringVar(&opts.Keys.SigningKey, "audit-signing-key", "", "Ed25519 signing key file (default: $"+audit.EnvSigningKey+", "+audit.DefaultKeyDir+"/"+audit.SigningKeyFile+")")
	fl.StringVar(&opts.Keys.HMACKey, "fingerprint-key", "", "HMAC key file, to name it in checkpoints (default: $"+audit.EnvHMACKey+", "+audit.DefaultKeyDir+"/"+audit.HMACKeyFile+")")
	return cmd
}

func auditRotateRun(f *factory, opts *auditRotateOptions) error {
	signer, err := audit.LoadSigner(opts.Keys.SigningKey, f.Getenv)
	if err != nil {
		return err
	}
	fp, err := audit.LoadFingerprinter(opts.Keys.HMACKey, f.Getenv)
	if err != nil && !errors.Is(err, audit.ErrNoKey) {
		return err
	}
	to := opts.To
	if to == "" {
		to = filepath.Join(filepath.Dir(opts.Log), "audit-"+opts.Now().UTC().Format("20060102T150405Z")+".jsonl")
	}
	var oldKey string
	if head, err := audit.ReadHead(audit.HeadPath(opts.Log)); err == nil {
		oldKey = head.PublicKeyID
	}
	if err := audit.Rotate(opts.Log, to, audit.Options{Signer: signer, Fingerprinter: fp}); err != nil {
		if errors.Is(err, audit.ErrUnavailable) {
			return withCode(ExitAudit, err)
		}
		return err
	}
	newKey := audit.PublicKeyID(signer.Public().(ed25519.PublicKey))
	result := struct {
		Archived    string `json:"archived"`
		Log         string `json:"log"`
		PublicKeyID string `json:"publicKeyID"`
		KeyChanged  bool   `json:"keyChanged,omitempty"`
	}{to, opts.Log, newKey, oldKey != "" && oldKey != newKey}
	return f.render(result, func() error {
		if _, err := fmt.Fprintf(f.Out, "archived %s to %s; %s continues its chain\n", opts.Log, to, opts.Log); err != nil {
			return err
		}
		if result.KeyChanged {
			fmt.Fprintf(f.status(), "%s is now signed by %s (the archive by %s): use the new keys for every later run "+
				"(--audit-signing-key and --fingerprint-key, $%s and $%s, or put them in %s), and give auditors the new public key; "+
				"`audit verify --public-key OLD.pub --public-key NEW.pub --audit-log %s --audit-log %s` checks both files and the link\n",
				opts.Log, newKey, oldKey, audit.EnvSigningKey, audit.EnvHMACKey, audit.DefaultKeyDir, to, opts.Log)
		}
		return nil
	})
}
