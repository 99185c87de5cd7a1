package sealed

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/yaml"

	"github.com/secretshift/secretshift/internal/outdir"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

var (
	_ providers.Provider     = (*Provider)(nil)
	_ providers.Describer    = (*Provider)(nil)
	_ providers.Hinter       = (*Provider)(nil)
	_ providers.Noter        = (*Provider)(nil)
	_ providers.Logger       = (*Provider)(nil)
	_ providers.Pinned       = (*Provider)(nil)
	_ providers.FolderWriter = (*Provider)(nil)
	_ providers.Finisher     = (*Provider)(nil)
	_ providers.StdoutWriter = (*Provider)(nil)
	_ io.Closer              = (*Provider)(nil)
)

// AnnotationSealedFor, on a SealedSecret secretshift wrote, holds the controller's id of the
// public key it was sealed for (crypto.PublicKeyFingerprint). A later run against a rotated
// key re-seals.
const AnnotationSealedFor = "secretshift.io/sealed-for"

// AnnotationValuesAt, on a SealedSecret secretshift wrote, is when its values were set (RFC
// 3339, UTC): the age `rotate --due` measures. A re-seal of the same values (a renewed key, a
// new scope) keeps it. Files have no time of their own that survives Git: a clone sets every
// modification time to the clone's, which would make nothing ever due.
const AnnotationValuesAt = "secretshift.io/values-at"

// Size limits.
const (
	// maxSealedSize is the largest SealedSecret manifest written. The API server keeps an
	// object in one etcd entry (1.5 MiB by default), and kubectl's client-side apply stores a
	// second copy in an annotation; past 1 MiB a SealedSecret no longer fits reliably.
	maxSealedSize = 1 << 20
)

// apiVersion and kind of the objects written.
const (
	apiVersion = "bitnami.com/v1alpha1"
	kind       = "SealedSecret"
)

// Provider seals Secrets for one controller certificate into one output folder, or onto
// standard output. It is safe for concurrent use; writes to one file are serialised. Close
// releases the folder's lock.
type Provider struct {
	out    string // "" when writing to stdout
	folder *outdir.Lock
	scope  ssv1alpha1.SealingScope
	cert   *certificate
	keys   map[string]*rsa.PrivateKey
	now    func() time.Time
	logger atomic.Pointer[slog.Logger]

	// Standard-output mode: what this run wrote, by address.
	stdout io.Writer
	smu    sync.Mutex
	stream map[string]*providers.Stored

	mu    sync.Mutex
	notes []string
	locks outdir.FileLocks
}

// Name returns "sealed".
func (p *Provider) Name() string { return Name }

// StoreID implements providers.Provider: the output folder's absolute path. The certificate
// is not part of it: a rotated controller key re-seals into the same store.
func (p *Provider) StoreID() string {
	if p.stream != nil {
		return Name + "|" + Stdout
	}
	return Name + "|" + p.OutputFolder()
}

// Describe names the folder, the scope and the certificate (fingerprint and expiry).
func (p *Provider) Describe() string {
	where := "sealed secrets in " + p.OutputFolder()
	if p.stream != nil {
		where = "sealed secrets on standard output"
	}
	return fmt.Sprintf("%s (scope %s) for the certificate sha256:%s (key %s, from %s, expires %s)",
		where, scopeName(p.scope), p.cert.SHA256, short(p.cert.KeyID), p.cert.Source, p.cert.NotAfter.UTC().Format(time.DateOnly))
}

// OutputFolder returns the absolute folder the provider writes into ("" on standard output).
func (p *Provider) OutputFolder() string {
	if p.stream != nil {
		return ""
	}
	if dir, err := filepath.Abs(p.out); err == nil {
		return dir
	}
	return p.out
}

// parseAddress splits t's address, as Target makes it.
func (p *Provider) parseAddress(t providers.Target) (ns, name string, err error) {
	if p.stream != nil {
		return outdir.ParseStreamAddress(Name, t)
	}
	return outdir.ParseAddress(Name, t)
}

// WritesStdout implements providers.StdoutWriter.
func (p *Provider) WritesStdout() bool { return p.stream != nil }

// Target returns <namespace>/<name>.yaml. A stream has no files, so a name too long for one
// (254 to 253+5 characters with the extension) is fine there.
func (p *Provider) Target(ref providers.Ref) (providers.Target, error) {
	if p.stream != nil {
		return outdir.StreamTarget(Name, ref)
	}
	return outdir.Target(Name, ref)
}

// Check validates key names, the Kubernetes size limit of the Secret the controller will make,
// and the size of the SealedSecret, without I/O. Sealing adds a fixed amount per value (the
// RSA-sealed session key, the AES-GCM tag) and base64 a third, so a Secret near the Kubernetes
// limit does not fit once sealed.
func (p *Provider) Check(t providers.Target, pl providers.Payload) error {
	check := outdir.Check
	if p.stream != nil {
		check = outdir.CheckStream
	}
	errs := check(Name, t, pl)
	if n := p.sealedSize(pl); pl.Data.Size() <= outdir.MaxSecretSize && n > maxSealedSize {
		errs = append(errs, fmt.Errorf("secret %s: %w: sealed it is about %d bytes (%d of values), and a SealedSecret must stay under %d to be stored by the API server; split it, or use another store",
			pl.Ref, providers.ErrTooLarge, n, pl.Data.Size(), maxSealedSize))
	}
	return errors.Join(errs...)
}

// sealedSize estimates the size of p's SealedSecret: each value sealed (2 bytes of length, the
// RSA-sealed session key, the value, the GCM tag) in base64 under its key, twice the metadata
// (the SealedSecret's and its template's), and room for the rest.
func (p *Provider) sealedSize(pl providers.Payload) int {
	const perValue = 2 + 16 + len(": \n    ")
	n := 1024
	for k, v := range pl.Data {
		n += len(k) + base64.StdEncoding.EncodedLen(perValue+p.cert.pub.Size()+len(v))
	}
	for k, v := range pl.Labels {
		n += 2 * (len(k) + len(v) + 8)
	}
	for k, v := range providers.ManifestAnnotations(pl) {
		n += 2 * (len(k) + len(v) + 8)
	}
	return n
}

// Read returns what is stored at t. Without the controller's private key the values cannot be
// read: Data is nil and the recorded fingerprint stands for them. With it (and only for a
// SealedSecret sealed for a key given), every value is decrypted. A file that is not a
// SealedSecret of this address, or one the key given cannot open, comes back with Problem
// set. A SealedSecret sealed for another key or scope than this run's comes back with Rewrite
// set.
func (p *Provider) Read(ctx context.Context, t providers.Target) (*providers.Stored, error) {
	ns, name, err := p.parseAddress(t)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rel := outdir.Address(ns, name)
	if p.stream != nil {
		p.smu.Lock()
		defer p.smu.Unlock()
		if st, ok := p.stream[rel]; ok {
			c := *st
			return &c, nil
		}
		return nil, fmt.Errorf("%w: %s (not written to standard output in this run)", providers.ErrNotFound, rel)
	}
	b, err := os.ReadFile(outdir.Path(p.out, ns, name))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", rel, outdir.IOErr(err))
	}
	st := p.stored(ns, name, b)
	if fi, err := os.Stat(outdir.Path(p.out, ns, name)); err == nil && st.Problem == "" && st.Updated.IsZero() {
		// A SealedSecret written without AnnotationValuesAt (by kubeseal, or by an older
		// secretshift): the file's modification time is the best there is.
		st.Updated = fi.ModTime()
	}
	return st, nil
}

// stored is what the file content b at ns/name holds.
func (p *Provider) stored(ns, name string, b []byte) *providers.Stored {
	version := fileVersion(b)
	ss, problem := parseSealed(ns, name, b)
	if problem != "" {
		return &providers.Stored{Version: version, Problem: problem}
	}
	ann := ss.Spec.Template.Annotations
	st := &providers.Stored{
		Type:             string(ss.Spec.Template.Type),
		Fingerprint:      ann[providers.AnnotationFingerprint],
		FingerprintKeyID: ann[providers.AnnotationFingerprintKey],
		Version:          version,
		Managed:          ann[providers.AnnotationManagedBy] == providers.ManagedByValue,
		SourceUID:        ann[providers.AnnotationSourceUID],
		Ref:              providers.Ref{Namespace: ns, Name: name, UID: ann[providers.AnnotationSourceUID]},
		Labels:           ss.Spec.Template.Labels,
		Annotations:      ann,
		Job:              ann[providers.AnnotationJob],
		Immutable:        ss.Spec.Template.Immutable != nil && *ss.Spec.Template.Immutable,
	}
	if st.Type == "" {
		st.Type = string(corev1.SecretTypeOpaque)
	}
	st.Keys = slices.Sorted(maps.Keys(ss.Spec.EncryptedData))
	if at, err := time.Parse(time.RFC3339, ss.Annotations[AnnotationValuesAt]); err == nil {
		st.Updated = at
	}
	sealedFor := ss.Annotations[AnnotationSealedFor]
	switch scope := ssv1alpha1.SecretScope(ss); {
	case st.Managed && sealedFor != p.cert.KeyID:
		st.Rewrite = fmt.Sprintf("sealed for key %s, and the controller's certificate is now for key %s", short(sealedFor), short(p.cert.KeyID))
	case st.Managed && scope != p.scope:
		st.Rewrite = fmt.Sprintf("sealed with scope %s, and this run's is %s", scopeName(scope), scopeName(p.scope))
	}
	if len(p.keys) == 0 {
		return st
	}
	if p.keys[sealedFor] == nil && st.Rewrite == "" {
		// Sealed, it says, for the controller's current key, which was given to verify with,
		// yet that key is not among those given: the file's claim, or the key, is wrong.
		return &providers.Stored{Version: version, Problem: fmt.Sprintf("sealed for key %s, and none of the private keys given is that key", short(sealedFor))}
	}
	if p.keys[sealedFor] == nil {
		return st // sealed for an earlier key, not given: re-sealed by the next run
	}
	secret, err := ss.UnsealWithoutTemplate(runtimeserializer.CodecFactory{}, p.keys)
	if err != nil {
		// A SealedSecret sealed for a key given that it does not open was changed, or sealed
		// for another namespace or name. The error names keys, never values.
		return &providers.Stored{Version: version, Problem: fmt.Sprintf("cannot be unsealed with the private keys given: %v", err)}
	}
	st.Data = kube.Data(secret.Data)
	return st
}

// parseSealed decodes b as the SealedSecret of ns/name, or says why it is not one.
func parseSealed(ns, name string, b []byte) (*ssv1alpha1.SealedSecret, string) {
	var ss ssv1alpha1.SealedSecret
	if err := yaml.UnmarshalStrict(b, &ss); err != nil {
		return nil, fmt.Sprintf("not a SealedSecret manifest: %v", err)
	}
	switch {
	case ss.APIVersion != apiVersion || ss.Kind != kind:
		return nil, fmt.Sprintf("holds a %s %s, not a %s %s", ss.APIVersion, ss.Kind, apiVersion, kind)
	case ss.Name != name || ss.Namespace != ns:
		return nil, fmt.Sprintf("holds the SealedSecret %s/%s, not %s/%s", ss.Namespace, ss.Name, ns, name)
	case ss.Spec.Data != nil:
		return nil, "uses the deprecated spec.data field"
	case len(ss.Spec.Template.Data) > 0:
		return nil, "has spec.template.data templates, which secretshift does not write"
	}
	for k, v := range ss.Spec.EncryptedData {
		if _, err := base64.StdEncoding.DecodeString(v); err != nil {
			return nil, fmt.Sprintf("encryptedData key %q is not base64", k)
		}
	}
	return &ss, ""
}

// Write seals pl into the file of t. expect is the Version Read returned, or "" when the file
// must not exist. A managed file that already holds pl's fingerprint, sealed for this run's key
// and scope, is left untouched and its version returned: sealing is randomised, and a rewrite
// would be a Git diff with nothing in it.
func (p *Provider) Write(ctx context.Context, t providers.Target, pl providers.Payload, expect string) (string, error) {
	ns, name, err := p.parseAddress(t)
	if err != nil {
		return "", err
	}
	if err := p.Check(t, pl); err != nil {
		return "", err
	}
	rel := outdir.Address(ns, name)
	if p.stream != nil {
		return p.writeStream(rel, pl)
	}
	n, err := p.folder.Acquire()
	if n > 0 {
		p.note(fmt.Sprintf("removed %d temporary file(s) an interrupted run left in %s", n, p.out))
	}
	if err != nil {
		return "", err
	}
	path := outdir.Path(p.out, ns, name)
	unlock := p.locks.Lock(path)
	defer unlock()
	if err := ctx.Err(); err != nil {
		return "", err
	}

	cur, err := os.ReadFile(path)
	exists := err == nil
	var version string
	if exists {
		version = fileVersion(cur)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", rel, outdir.IOErr(err))
	}
	if err := outdir.CheckVersion(rel, version, expect); err != nil {
		return "", err
	}
	at := time.Now()
	if exists && pl.Fingerprint != "" {
		st := p.stored(ns, name, cur)
		same := st.Problem == "" && st.Managed && st.Fingerprint == pl.Fingerprint && st.FingerprintKeyID == pl.FingerprintKeyID
		if same && st.Rewrite == "" {
			return version, nil
		}
		if same && !st.Updated.IsZero() {
			at = st.Updated // the same values, sealed anew
		}
	}
	out, err := p.seal(pl, at)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), outdir.DirMode); err != nil {
		return "", fmt.Errorf("write %s: %w", rel, outdir.IOErr(err))
	}
	if err := outdir.WriteFile(path, out, outdir.FileMode, !exists); err != nil {
		return "", fmt.Errorf("write %s: %w", rel, outdir.IOErr(err))
	}
	p.debug("sealed", "path", rel, "scope", scopeName(p.scope), "key", short(p.cert.KeyID))
	return fileVersion(out), nil
}

// writeStream writes pl's SealedSecret to standard output, as one document of the stream.
func (p *Provider) writeStream(rel string, pl providers.Payload) (string, error) {
	at := time.Now()
	out, err := p.seal(pl, at)
	if err != nil {
		return "", err
	}
	p.smu.Lock()
	defer p.smu.Unlock()
	if _, err := io.WriteString(p.stdout, "---\n"); err != nil {
		return "", fmt.Errorf("write %s to standard output: %w", rel, err)
	}
	if _, err := p.stdout.Write(out); err != nil {
		return "", fmt.Errorf("write %s to standard output: %w", rel, err)
	}
	version := fileVersion(out)
	p.stream[rel] = &providers.Stored{
		Type: pl.EffectiveType(), Fingerprint: pl.Fingerprint, FingerprintKeyID: pl.FingerprintKeyID,
		Version: version, Managed: true, SourceUID: pl.Ref.UID, Updated: at.UTC().Truncate(time.Second),
	}
	return version, nil
}

// seal renders pl as a SealedSecret manifest, sealed by the sealed-secrets library itself; at is
// when its values were set (AnnotationValuesAt).
func (p *Provider) seal(pl providers.Payload, at time.Time) ([]byte, error) {
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: pl.Ref.Name, Namespace: pl.Ref.Namespace,
			Labels:      maps.Clone(pl.Labels),
			Annotations: ssv1alpha1.UpdateScopeAnnotations(providers.ManifestAnnotations(pl), p.scope),
		},
		Type: corev1.SecretType(pl.EffectiveType()),
		Data: map[string][]byte(pl.Data),
	}
	if pl.Immutable {
		immutable := true
		secret.Immutable = &immutable
	}
	ss, err := ssv1alpha1.NewSealedSecret(runtimeserializer.CodecFactory{}, p.cert.pub, secret)
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", pl.Ref, err)
	}
	ss.APIVersion, ss.Kind = apiVersion, kind
	ss.Annotations[AnnotationSealedFor] = p.cert.KeyID
	ss.Annotations[AnnotationValuesAt] = at.UTC().Format(time.RFC3339)
	out, err := yaml.Marshal(ss)
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", pl.Ref, err)
	}
	out = bytes.ReplaceAll(out, []byte("\n  creationTimestamp: null\n"), []byte("\n"))
	out = bytes.ReplaceAll(out, []byte("\n      creationTimestamp: null\n"), []byte("\n"))
	if len(out) > maxSealedSize {
		return nil, fmt.Errorf("seal %s: %w: the SealedSecret is %d bytes, and must stay under %d to be stored by the API server", pl.Ref, providers.ErrTooLarge, len(out), maxSealedSize)
	}
	return out, nil
}

// fileVersion is the version of a file's content: a hash, so that a check-and-set write
// notices any change since it was read.
func fileVersion(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// short abbreviates a key id for messages.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	if id == "" {
		return "(none recorded)"
	}
	return id
}

// Close releases the output folder's lock. Writes after Close fail.
func (p *Provider) Close() error {
	if p.folder == nil {
		return nil
	}
	return p.folder.Close()
}
