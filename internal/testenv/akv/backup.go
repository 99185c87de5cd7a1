package akv

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// backupPrefix starts every blob, as it starts the service's (MANIFEST.md, check 5). The rest
// of a real blob is a JWE; here it is AES-256-GCM under a key of this server, so a blob is
// opaque, tamper-evident and restorable only into the server that made it (the service, too,
// restores only within its own geography).
const backupPrefix = ")AzureKeyVaultSecretBackupV1.microsoft.com"

type backupSealer struct{ aead cipher.AEAD }

func newBackupSealer() (*backupSealer, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate backup key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("create backup cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("create backup cipher: %w", err)
	}
	return &backupSealer{aead: aead}, nil
}

// backupVersion is a version inside a sealed blob.
type backupVersion struct {
	ID          string            `json:"id"`
	Value       string            `json:"value"`
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Enabled     bool              `json:"enabled"`
	NotBefore   *int64            `json:"nbf,omitempty"`
	Expires     *int64            `json:"exp,omitempty"`
	Created     int64             `json:"created"`
	Updated     int64             `json:"updated"`
}

type backupSecret struct {
	Name     string          `json:"name"`
	Versions []backupVersion `json:"versions"`
}

// seal returns the backup blob of sec and all its versions, base64url-encoded as the
// service's is.
func (b *backupSealer) seal(sec *secret) (string, *apiError) {
	bs := backupSecret{Name: sec.name}
	for _, v := range sec.versions {
		bs.Versions = append(bs.Versions, backupVersion{
			ID: v.id, Value: v.value, ContentType: v.contentType, Tags: v.tags, Enabled: v.enabled,
			NotBefore: v.nbf, Expires: v.exp, Created: v.created, Updated: v.updated,
		})
	}
	plain, err := json.Marshal(bs)
	if err != nil {
		return "", &apiError{status: 500, code: "InternalServerError", message: "The backup could not be encoded."}
	}
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce)
	sealed := b.aead.Seal(nonce, nonce, plain, []byte(backupPrefix))
	blob := append([]byte(backupPrefix), sealed...)
	return base64.RawURLEncoding.EncodeToString(blob), nil
}

// open reads a blob made by seal. Anything else is "Malformed backup blob".
func (b *backupSealer) open(blob string) (*secret, *apiError) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(blob, "="))
	if err != nil || !bytes.HasPrefix(raw, []byte(backupPrefix)) {
		return nil, errMalformedBackup()
	}
	sealed := raw[len(backupPrefix):]
	n := b.aead.NonceSize()
	if len(sealed) < n {
		return nil, errMalformedBackup()
	}
	plain, err := b.aead.Open(nil, sealed[:n], sealed[n:], []byte(backupPrefix))
	if err != nil {
		return nil, errMalformedBackup()
	}
	var bs backupSecret
	if json.Unmarshal(plain, &bs) != nil || len(bs.Versions) == 0 || !validName.MatchString(bs.Name) {
		return nil, errMalformedBackup()
	}
	sec := &secret{name: bs.Name}
	for _, v := range bs.Versions {
		sec.versions = append(sec.versions, &version{
			id: v.ID, value: v.Value, contentType: v.ContentType, tags: v.Tags, enabled: v.Enabled,
			nbf: v.NotBefore, exp: v.Expires, created: v.Created, updated: v.Updated,
		})
	}
	return sec, nil
}
