package sops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/azkv"
	"github.com/getsops/sops/v3/shamir"
	"github.com/secretshift/secretshift/internal/atomicfile"
)

type encrypterContext interface {
	EncryptContext(ctx context.Context, dataKey []byte) error
}

type decrypterContext interface {
	DecryptContext(ctx context.Context) ([]byte, error)
}

// encryptDataKey wraps dataKey for every master key of g.
func encryptDataKey(ctx context.Context, g sops.KeyGroup, dataKey []byte) error {
	for _, k := range g {
		var err error
		if kc, ok := k.(encrypterContext); ok {
			err = kc.EncryptContext(ctx, dataKey)
		} else {
			err = k.Encrypt(dataKey)
		}
		if err != nil {
			return fmt.Errorf("encrypt the data key to %s %s: %w", k.TypeToIdentifier(), k.ToString(), err)
		}
	}
	return nil
}

// errNoIdentity marks a data key no available identity could unwrap.
var errNoIdentity = errors.New("no available identity can decrypt the data key")

// dataKey recovers the data key of a file and says which kind of identity opened it ("age key
// file", or a master key kind such as "age" or "pgp" found through sops' own lookup), for the
// debug log. The age identities of --sops-age-key-file are tried first; then every master key's
// own lookup, which for age is sops' environment search (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE,
// keys.txt, SSH keys, key commands) and for PGP, Vault and Azure their usual credentials.
func dataKey(ctx context.Context, md *sops.Metadata, ids sopsage.ParsedIdentities) ([]byte, string, error) {
	if len(md.KeyGroups) == 0 {
		return nil, "", fmt.Errorf("%w: the file lists no master keys", errNoIdentity)
	}
	var parts [][]byte
	var via []string
	var errs []error
	for _, g := range md.KeyGroups {
		part, how, err := decryptGroup(ctx, g, ids)
		if err != nil {
			if ctx.Err() != nil {
				return nil, "", ctx.Err()
			}
			errs = append(errs, err)
			continue
		}
		parts = append(parts, part)
		via = append(via, how)
	}
	if len(md.KeyGroups) == 1 {
		if len(parts) == 1 {
			return parts[0], via[0], nil
		}
		return nil, "", fmt.Errorf("%w: %w", errNoIdentity, errors.Join(errs...))
	}
	threshold := md.ShamirThreshold
	if threshold == 0 {
		threshold = len(md.KeyGroups)
	}
	if len(parts) < threshold {
		return nil, "", fmt.Errorf("%w: %d of %d key groups needed: %w", errNoIdentity, threshold, len(md.KeyGroups), errors.Join(errs...))
	}
	key, err := shamir.Combine(parts)
	if err != nil {
		return nil, "", fmt.Errorf("combine the data key from %d key groups: %w", len(parts), err)
	}
	return key, strings.Join(via, ", "), nil
}

// identityKeyFile names the identities of --sops-age-key-file in the debug log.
const identityKeyFile = "age key file"

func decryptGroup(ctx context.Context, g sops.KeyGroup, ids sopsage.ParsedIdentities) ([]byte, string, error) {
	if len(ids) > 0 {
		for _, k := range g {
			ak, ok := k.(*sopsage.MasterKey)
			if !ok {
				continue
			}
			// A copy: once identities are applied to a key, sops stops searching the
			// environment for it, and the fallback below needs that search.
			c := &sopsage.MasterKey{Recipient: ak.Recipient, EncryptedKey: ak.EncryptedKey}
			ids.ApplyToMasterKey(c)
			if b, err := c.Decrypt(); err == nil {
				return b, identityKeyFile, nil
			}
		}
	}
	var errs []error
	for _, k := range g {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		var b []byte
		var err error
		if kd, ok := k.(decrypterContext); ok {
			b, err = kd.DecryptContext(ctx)
		} else {
			b, err = k.Decrypt()
		}
		if err == nil {
			return b, k.TypeToIdentifier(), nil
		}
		errs = append(errs, fmt.Errorf("%s %s: %w", k.TypeToIdentifier(), k.ToString(), err))
	}
	return nil, "", errors.Join(errs...)
}

// keyFile is an age identity file: its identities and the recipients of its X25519 ones.
type keyFile struct {
	ids        sopsage.ParsedIdentities
	recipients []string
}

// loadKeyFile reads an age identity file. A missing file is reported with fs.ErrNotExist.
// Parse errors are not passed on: age's messages may quote characters of the key.
func loadKeyFile(path string) (*keyFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("age key file %s holds no valid age identity", path)
	}
	kf := &keyFile{ids: ids}
	for _, id := range ids {
		if x, ok := id.(*age.X25519Identity); ok {
			kf.recipients = append(kf.recipients, x.Recipient().String())
		}
	}
	return kf, nil
}

// generateKeyFile creates an age X25519 identity at path in age-keygen's format (file 0600,
// folder 0700). It never replaces an existing file: when another process created one first,
// that file is loaded instead.
func generateKeyFile(path string, now time.Time) (*keyFile, bool, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, false, fmt.Errorf("generate an age key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("create the folder of age key file %s: %w", path, err)
	}
	pub := id.Recipient().String()
	content := fmt.Sprintf("# created: %s\n# public key: %s\n%s\n", now.Format(time.RFC3339), pub, id)
	// Whole and durable, or not at all: a half-written key would lock the files out.
	err = atomicfile.Write(path, []byte(content), 0o600, atomicfile.Options{Create: true, SyncDir: true})
	if errors.Is(err, fs.ErrExist) {
		kf, err := loadKeyFile(path)
		return kf, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("create age key file %s: %w", path, err)
	}
	return &keyFile{ids: sopsage.ParsedIdentities{id}, recipients: []string{pub}}, true, nil
}

var azureKeyURL = regexp.MustCompile(`^(https://[^/]+)/keys/([^/]+)(?:/([^/]*))?$`)

// resolveAzureKey parses an Azure Key Vault key URL. Without a version, sops asks Key Vault for
// the latest one (a network call with the default Azure credentials), as `sops --azure-kv` does.
func resolveAzureKey(u string) (azureKey, error) {
	u = strings.TrimSpace(u)
	m := azureKeyURL.FindStringSubmatch(u)
	if m == nil {
		return azureKey{}, fmt.Errorf("azure key vault key %q is not https://<vault>/keys/<name>[/<version>]", u)
	}
	if m[3] != "" {
		return azureKey{url: u, vaultURL: m[1], name: m[2], version: m[3]}, nil
	}
	k, err := azkv.NewMasterKeyFromURL(u)
	if err != nil {
		return azureKey{}, fmt.Errorf("azure key vault key %q: resolve the latest version: %w", u, err)
	}
	return azureKey{url: u, vaultURL: k.VaultURL, name: k.Name, version: k.Version}, nil
}

var pgpFingerprint = regexp.MustCompile(`^([0-9A-Fa-f]{16}|[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$`)
