package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/secretshift/secretshift/audit"
)

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
