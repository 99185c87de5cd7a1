// Package vault stores Secrets in HashiCorp Vault's KV version 2 engine (OpenBao too: it speaks
// the same API). Each Kubernetes Secret becomes one KV entry holding all of its keys; values
// that are not valid UTF-8 are stored base64-encoded and listed in custom metadata, together
// with the source's identity and keyed fingerprint, so the entry explains itself and
// secretshift can tell its own writes from anybody else's.
//
// Writes use check-and-set: a create sends cas=0 and an update the version that was read, so
// a concurrent writer is never silently overwritten and a re-run never adds a duplicate version.
package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"

	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/errgroup"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// Name is the registry name of this adapter.
const Name = "vault"

// MaxEntryBytes bounds the JSON size of one KV entry. Vault's integrated storage refuses
// entries over 1 MiB by default (max_entry_size), and a KV v2 version is one entry.
const MaxEntryBytes = 1 << 20

// Custom metadata keys written on every entry secretshift manages.
const (
	metaManagedBy   = "managed-by"
	metaManagedByV  = "secretshift"
	metaFingerprint = "secretshift-fingerprint"
	metaFPKey       = "secretshift-fingerprint-key"
	metaEncoding    = "secretshift-base64-keys"
	metaSince       = "secretshift-base64-since"
	metaCluster     = "source-cluster"
	metaNamespace   = "source-namespace"
	metaName        = "source-name"
	metaUID         = "source-uid"
	metaType        = "source-type"
	metaRun         = "secretshift-run"
	metaLease       = "secretshift-lease"
	// metaProvenance prefixes the keys of Payload.Provenance (provenanceKey).
	metaProvenance = "secretshift-"
	// maxProvenance bounds Payload.Provenance: KV v2 allows 64 custom metadata keys, and
	// secretshift's own take 11.
	maxProvenance = 32
	// encodingAll marks that every key is base64, used when the list of binary keys would not
	// fit Vault's 512-byte limit for a metadata value.
	encodingAll = "*"
)

// maxMetaValue is Vault's limit for one custom_metadata value.
const maxMetaValue = 512

// Provider is the Vault KV v2 adapter.
type Provider struct {
	client    *api.Client
	mount     string
	path      *template.Template
	addr      string
	namespace string
	eso       esoConfig
	identity  Identity
}

// Identity is who the adapter is authenticated as: never the token itself.
type Identity struct {
	DisplayName string
	Accessor    string
}

var (
	_ providers.Provider        = (*Provider)(nil)
	_ providers.Versioned       = (*Provider)(nil)
	_ providers.ExternalReader  = (*Provider)(nil)
	_ providers.ActorIdentifier = (*Provider)(nil)
	_ providers.Lister          = (*Provider)(nil)
	_ providers.Describer       = (*Provider)(nil)
)

// Name implements providers.Provider.
func (p *Provider) Name() string { return Name }

// ActorIdentity implements providers.ActorIdentifier: the token's display name and accessor.
func (p *Provider) ActorIdentity() map[string]string {
	return map[string]string{"display_name": p.identity.DisplayName, "accessor": p.identity.Accessor}
}

// StoreID implements providers.Provider: the server, the Vault namespace and the mount.
func (p *Provider) StoreID() string {
	return "vault|" + strings.TrimRight(p.addr, "/") + "|" + p.namespace + "|" + p.mount
}

// provenanceKey is what a Payload.Provenance key may look like.
var provenanceKey = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)

// ownMetadata are the custom metadata keys secretshift writes itself.
var ownMetadata = map[string]bool{metaLease: true, metaManagedBy: true, metaFingerprint: true, metaFPKey: true, metaEncoding: true, metaSince: true,
	metaCluster: true, metaNamespace: true, metaName: true, metaUID: true, metaType: true, metaRun: true}

// Describe implements providers.Describer: which store the adapter writes to, in words.
func (p *Provider) Describe() string {
	s := fmt.Sprintf("vault %s mount %s/ (kv v2)", strings.TrimRight(p.addr, "/"), p.mount)
	if p.namespace != "" {
		s += " namespace " + p.namespace
	}
	return s
}

// checkMount detects the KV version the way the vault CLI does, through
// sys/internal/ui/mounts, which needs no sys policy.
func (p *Provider) checkMount(ctx context.Context) error {
	s, err := p.client.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+p.mount)
	if err != nil {
		var re *api.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusForbidden {
			// Vault answers 403 for a mount that does not exist too, so mounts cannot be probed.
			return fmt.Errorf("vault mount %s/: %w: it does not exist, or the token may not use it\ncheck --vault-mount and that the token's policy grants access below %s/", p.mount, providers.ErrPermission, p.mount)
		}
		return fmt.Errorf("detect kv version of vault mount %s/: %w", p.mount, err)
	}
	if s == nil || s.Data == nil {
		return fmt.Errorf("vault mount %s/ not found: %w\nenable it with: vault secrets enable -path=%s kv-v2", p.mount, providers.ErrNotFound, p.mount)
	}
	typ, _ := s.Data["type"].(string)
	version := "1"
	if opts, ok := s.Data["options"].(map[string]any); ok {
		if v, ok := opts["version"].(string); ok && v != "" {
			version = v
		}
	}
	if mp, _ := s.Data["path"].(string); mp != "" && strings.Trim(mp, "/") != p.mount {
		return fmt.Errorf("vault path %s/ is inside mount %s: %w\nset --vault-mount %s and put the rest in --vault-path", p.mount, mp, providers.ErrUnsupported, strings.Trim(mp, "/"))
	}
	if typ != "kv" && typ != "generic" {
		return fmt.Errorf("vault mount %s/ is a %q engine, not kv: %w", p.mount, typ, providers.ErrUnsupported)
	}
	if version != "2" {
		return fmt.Errorf("vault mount %s/ is kv version %s: %w: secretshift needs kv v2 for versions, check-and-set and metadata\nupgrade it with: vault kv enable-versioning %s/", p.mount, version, providers.ErrUnsupported, p.mount)
	}
	return nil
}

// Target implements providers.Provider: it renders the path template for ref.
func (p *Provider) Target(ref providers.Ref) (providers.Target, error) {
	var b bytes.Buffer
	if err := p.path.Execute(&b, struct{ Namespace, Name string }{ref.Namespace, ref.Name}); err != nil {
		return providers.Target{}, fmt.Errorf("render vault path for %s: %w: %v", ref, providers.ErrInvalidName, err)
	}
	path := b.String()
	if err := validPath(path, p.mount); err != nil {
		return providers.Target{}, fmt.Errorf("vault path %q for %s: %w", path, ref, err)
	}
	return providers.Target{Provider: Name, Address: p.mount + "/" + path}, nil
}

// validPath rejects paths Vault, its clients or ESO would mangle.
func validPath(path, mount string) error {
	switch {
	case path == "":
		return fmt.Errorf("%w: empty path", providers.ErrInvalidName)
	case strings.HasPrefix(path, "/") || strings.HasSuffix(path, "/"):
		return fmt.Errorf("%w: leading or trailing slash", providers.ErrInvalidName)
	case strings.Contains(path, "//"):
		return fmt.Errorf("%w: empty path segment", providers.ErrInvalidName)
	case strings.HasPrefix(path, mount+"/"):
		// ESO strips a leading "<mount>/" from remote keys, so such a path could not be read back.
		return fmt.Errorf("%w: starts with the mount name %q, which External Secrets Operator strips", providers.ErrInvalidName, mount)
	}
	for _, seg := range strings.Split(path, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("%w: %q segment", providers.ErrInvalidName, seg)
		}
	}
	for _, r := range path {
		if r < 0x21 || r == 0x7f || strings.ContainsRune(`%?#*+\"'<>`, r) {
			return fmt.Errorf("%w: character %q is not allowed", providers.ErrInvalidName, r)
		}
	}
	return nil
}

// relPath is the path of t below the mount.
func (p *Provider) relPath(t providers.Target) string {
	return strings.TrimPrefix(t.Address, p.mount+"/")
}

// Check implements providers.Provider.
func (p *Provider) Check(t providers.Target, pl providers.Payload) error {
	var errs []error
	data, _ := encode(pl.Data, "")
	if n := entrySize(data); n > MaxEntryBytes {
		errs = append(errs, fmt.Errorf("%s: %w: encoded entry is %d bytes, vault's storage limit is %d", pl.Ref, providers.ErrTooLarge, n, MaxEntryBytes))
	}
	if len(pl.Provenance) > maxProvenance {
		errs = append(errs, fmt.Errorf("%s: %w: %d provenance entries, at most %d", pl.Ref, providers.ErrTooLarge, len(pl.Provenance), maxProvenance))
	}
	for k := range pl.Provenance {
		// Provenance must never overwrite what secretshift itself records.
		if !provenanceKey.MatchString(k) || ownMetadata[metaProvenance+k] {
			errs = append(errs, fmt.Errorf("%s: %w: provenance key %q is not a short lowercase word, or is one of secretshift's own metadata keys", pl.Ref, providers.ErrInvalidName, k))
		}
	}
	return errors.Join(errs...)
}

// Read implements providers.Provider.
func (p *Provider) Read(ctx context.Context, t providers.Target) (*providers.Stored, error) {
	if !strings.HasPrefix(t.Address, p.mount+"/") {
		// Addresses name the mount, as Target makes them and plans show them; a bare path
		// would be read in the mount yet recorded without it.
		return nil, fmt.Errorf("vault address %q: %w: it starts with the mount, as in %s/%s", t.Address, providers.ErrInvalidName, p.mount, strings.TrimPrefix(t.Address, "/"))
	}
	sec, err := p.kvGet(ctx, p.relPath(t), 0)
	if err != nil {
		if errors.Is(err, api.ErrSecretNotFound) {
			return nil, fmt.Errorf("read vault %s: %w", t.Address, providers.ErrNotFound)
		}
		return nil, fmt.Errorf("read vault %s: %w", t.Address, classify(err))
	}
	return stored(sec), nil
}

// stored is what a KV v2 read returned, as the engine sees it.
func stored(sec *api.KVSecret) *providers.Stored {
	st := &providers.Stored{}
	if sec.VersionMetadata != nil {
		st.Version = strconv.Itoa(sec.VersionMetadata.Version)
		st.Updated = sec.VersionMetadata.CreatedTime
	}
	meta := stringMap(sec.CustomMetadata)
	st.Ref = providers.Ref{Namespace: meta[metaNamespace], Name: meta[metaName], UID: meta[metaUID], Cluster: meta[metaCluster]}
	st.Managed = meta[metaManagedBy] == metaManagedByV
	st.Fingerprint = meta[metaFingerprint]
	st.FingerprintKeyID = meta[metaFPKey]
	st.SourceUID = meta[metaUID]
	st.RunID = meta[metaRun]
	st.Type = meta[metaType]
	st.Job = meta[metaProvenance+providers.ProvenanceJob]
	if sec.Data == nil {
		// The latest version is soft-deleted: something is there (cas=0 would fail), with no values.
		st.Data, st.Deleted = kube.Data{}, true
		return st
	}
	version := 0
	if sec.VersionMetadata != nil {
		version = sec.VersionMetadata.Version
	}
	st.Data = decode(sec.Data, meta[metaEncoding], parseSince(meta[metaSince]), version)
	return st
}

// ReadVersion implements providers.Versioned. The custom metadata is the entry's (KV v2 keeps
// one set for all versions), so Managed and the fingerprint speak of the latest write.
func (p *Provider) ReadVersion(ctx context.Context, t providers.Target, version string) (*providers.Stored, error) {
	v, err := strconv.Atoi(version)
	if err != nil {
		return nil, fmt.Errorf("read vault %s: bad version %q", t.Address, version)
	}
	sec, err := p.kvGet(ctx, p.relPath(t), v)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("read vault %s version %d: %w", t.Address, v, providers.ErrNotFound)
		}
		return nil, fmt.Errorf("read vault %s version %d: %w", t.Address, v, classify(err))
	}
	return stored(sec), nil
}

// Existing implements providers.Lister with one LIST of the KV metadata per folder. It declines
// (ErrUnsupported) when the targets are spread over so many folders that listing would not
// save requests, and reports ErrPermission when the token's policy has no list capability.
func (p *Provider) Existing(ctx context.Context, targets []providers.Target) (map[string]bool, error) {
	folders := map[string][]providers.Target{}
	for _, t := range targets {
		dir, _ := path.Split(p.relPath(t))
		folders[dir] = append(folders[dir], t)
	}
	if len(folders) > max(1, len(targets)/4) {
		return nil, fmt.Errorf("list vault %s/: %w: %d targets in %d folders", p.mount, providers.ErrUnsupported, len(targets), len(folders))
	}
	var mu sync.Mutex
	exists := make(map[string]bool)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for dir, ts := range folders {
		g.Go(func() error {
			keys, err := p.list(ctx, dir)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for _, t := range ts {
				if _, name := path.Split(p.relPath(t)); keys[name] {
					exists[t.Address] = true
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return exists, nil
}

// list returns the entry names (not subfolders) in folder dir ("" or "a/b/") of the mount.
func (p *Provider) list(ctx context.Context, dir string) (map[string]bool, error) {
	s, err := p.client.Logical().ListWithContext(ctx, p.mount+"/metadata/"+dir)
	if err != nil {
		return nil, fmt.Errorf("list vault %s/%s: %w", p.mount, dir, classify(err))
	}
	keys := map[string]bool{}
	if s == nil || s.Data == nil {
		return keys, nil // the folder is empty
	}
	raw, _ := s.Data["keys"].([]any)
	for _, k := range raw {
		if name, ok := k.(string); ok && !strings.HasSuffix(name, "/") {
			keys[name] = true
		}
	}
	return keys, nil
}

// Entries implements providers.Enumerator: a recursive LIST of the mount's metadata below
// prefix (an address, the mount included).
func (p *Provider) Entries(ctx context.Context, prefix string) ([]providers.Target, error) {
	rel := strings.TrimPrefix(prefix, p.mount+"/")
	if prefix == p.mount {
		rel = ""
	}
	dir, _ := path.Split(rel)
	var out []providers.Target
	var walk func(dir string) error
	walk = func(dir string) error {
		s, err := p.client.Logical().ListWithContext(ctx, p.mount+"/metadata/"+dir)
		if err != nil {
			return fmt.Errorf("list vault %s/%s: %w", p.mount, dir, classify(err))
		}
		if s == nil || s.Data == nil {
			return nil
		}
		raw, _ := s.Data["keys"].([]any)
		for _, k := range raw {
			name, _ := k.(string)
			switch {
			case name == "":
			case strings.HasSuffix(name, "/"):
				if err := walk(dir + name); err != nil {
					return err
				}
			case strings.HasPrefix(dir+name, rel):
				out = append(out, providers.Target{Provider: Name, Address: p.mount + "/" + dir + name})
			}
		}
		return nil
	}
	if err := walk(dir); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b providers.Target) int { return strings.Compare(a.Address, b.Address) })
	return out, nil
}

// Write implements providers.Provider. Custom metadata is written before the data so that a
// crash between the two leaves metadata naming secretshift as the writer: the re-run then sees
// its own entry with stale content and updates it, instead of refusing a conflict.
func (p *Provider) Write(ctx context.Context, t providers.Target, pl providers.Payload, expect string) (string, error) {
	cas := 0
	if expect != "" {
		v, err := strconv.Atoi(expect)
		if err != nil {
			return "", fmt.Errorf("write vault %s: bad expected version %q", t.Address, expect)
		}
		cas = v
	}
	kv := p.client.KVv2(p.mount)
	path := p.relPath(t)
	// A key stored base64-encoded stays so, even when its new value is text: the marker is
	// the entry's, not a version's, so flipping it would make earlier versions (rollback) and
	// ESO's decodingStrategy read that key wrong.
	keep, since := "", map[string]int{}
	if expect != "" {
		md, err := kv.GetMetadata(ctx, path)
		if err != nil && !isNotFound(err) {
			return "", fmt.Errorf("read metadata of vault %s: %w", t.Address, classify(err))
		}
		if md != nil {
			keep, _ = md.CustomMetadata[metaEncoding].(string)
			s, _ := md.CustomMetadata[metaSince].(string)
			since = parseSince(s)
		}
	}
	data, marker := encode(pl.Data, keep)
	m := p.metadata(pl, marker)
	if cas > 0 {
		// Keys that turn base64 now were text in the versions before this one.
		m[metaSince] = nil
		if s := formatSince(markSince(since, keep, marker, pl.Data, cas+1)); s != "" {
			m[metaSince] = s
		}
	}
	if err := p.writeMetadata(ctx, path, m, expect == ""); err != nil {
		return "", fmt.Errorf("write metadata of vault %s: %w", t.Address, classify(err))
	}
	version, err := p.kvPut(ctx, path, data, cas)
	if err != nil {
		return "", fmt.Errorf("write vault %s (check-and-set %d): %w", t.Address, cas, classify(err))
	}
	return strconv.Itoa(version), nil
}

// writeMetadata sets secretshift's custom metadata on path. A new entry has no metadata to
// patch, so creates write it whole (POST, leaving max_versions and the other settings at the
// mount's defaults); updates patch only secretshift's keys and keep everything else. Either
// falls back to the other when the entry turns out to exist, or not.
func (p *Provider) writeMetadata(ctx context.Context, path string, m map[string]any, create bool) error {
	kv := p.client.KVv2(p.mount)
	put := func() error {
		full := make(map[string]any, len(m))
		for k, v := range m {
			if v != nil {
				full[k] = v
			}
		}
		return kv.PutMetadata(ctx, path, api.KVMetadataPutInput{CustomMetadata: full})
	}
	if create {
		return put()
	}
	err := kv.PatchMetadata(ctx, path, api.KVMetadataPatchInput{CustomMetadata: m})
	if err != nil && isNotFound(err) {
		return put()
	}
	return err
}

// metadata builds the custom_metadata patch. Keys with a nil value are deleted, so a stale
// encoding marker from an earlier write does not survive.
func (p *Provider) metadata(pl providers.Payload, marker string) map[string]any {
	// Vault refuses empty metadata values, so absent fields are deleted (nil) instead.
	// Every write also ends a rotation's lease (metaLease).
	m := map[string]any{metaManagedBy: metaManagedByV, metaType: pl.EffectiveType(), metaLease: nil}
	set := func(k, v string) {
		m[k] = nil
		if v != "" {
			m[k] = truncate(v)
		}
	}
	set(metaFingerprint, pl.Fingerprint)
	set(metaFPKey, pl.FingerprintKeyID)
	set(metaNamespace, pl.Ref.Namespace)
	set(metaName, pl.Ref.Name)
	set(metaUID, pl.Ref.UID)
	set(metaCluster, pl.Ref.Cluster)
	set(metaRun, pl.RunID)
	set(metaEncoding, marker)
	// The job that wrote is provenance like any other, but it must not outlive the write: a
	// migration over a rotated entry clears it.
	m[metaProvenance+providers.ProvenanceJob] = nil
	for k, v := range pl.Provenance {
		set(metaProvenance+k, v)
	}
	return m
}

func truncate(v string) string {
	if len(v) > maxMetaValue {
		return v[:maxMetaValue]
	}
	return v
}

// Versions implements providers.Versioned.
func (p *Provider) Versions(ctx context.Context, t providers.Target) ([]string, error) {
	vs, err := p.client.KVv2(p.mount).GetVersionsAsList(ctx, p.relPath(t))
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("list versions of vault %s: %w", t.Address, providers.ErrNotFound)
		}
		return nil, fmt.Errorf("list versions of vault %s: %w", t.Address, classify(err))
	}
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, strconv.Itoa(v.Version))
	}
	return out, nil
}

// Rollback implements providers.Versioned: the old version's values are written as a new
// version (check-and-set on the current one). It is not KV v2's own rollback, which copies the
// stored strings: a key that turned base64 since that version would read back wrong under the
// entry's encoding marker, so the values are decoded as that version stored them and encoded as
// the entry's marker says now.
func (p *Provider) Rollback(ctx context.Context, t providers.Target, version string) (string, error) {
	v, err := strconv.Atoi(version)
	if err != nil {
		return "", fmt.Errorf("rollback vault %s: bad version %q", t.Address, version)
	}
	kv := p.client.KVv2(p.mount)
	path := p.relPath(t)
	md, err := kv.GetMetadata(ctx, path)
	if err != nil {
		return "", fmt.Errorf("rollback vault %s: read metadata: %w", t.Address, classify(err))
	}
	old, err := p.kvGet(ctx, path, v)
	if err != nil {
		return "", fmt.Errorf("rollback vault %s to version %d: %w", t.Address, v, classify(err))
	}
	if old.Data == nil {
		return "", fmt.Errorf("rollback vault %s: version %d is deleted or destroyed", t.Address, v)
	}
	meta := stringMap(md.CustomMetadata)
	since := parseSince(meta[metaSince])
	values := decode(old.Data, meta[metaEncoding], since, v)
	data, marker := encode(values, meta[metaEncoding])
	if marker != meta[metaEncoding] {
		patch := map[string]any{metaEncoding: marker, metaSince: nil}
		if s := formatSince(markSince(since, meta[metaEncoding], marker, values, md.CurrentVersion+1)); s != "" {
			patch[metaSince] = s
		}
		if err := kv.PatchMetadata(ctx, path, api.KVMetadataPatchInput{CustomMetadata: patch}); err != nil {
			return "", fmt.Errorf("rollback vault %s: write metadata: %w", t.Address, classify(err))
		}
	}
	written, err := p.kvPut(ctx, path, data, md.CurrentVersion)
	if err != nil {
		return "", fmt.Errorf("rollback vault %s to version %d (check-and-set %d): %w", t.Address, v, md.CurrentVersion, classify(err))
	}
	return strconv.Itoa(written), nil
}

func isNotFound(err error) bool {
	if errors.Is(err, api.ErrSecretNotFound) {
		return true
	}
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

// classify wraps a Vault error with the matching sentinel, keeping Vault's own message
// (which never contains the values sent).
func classify(err error) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		switch {
		case re.StatusCode == http.StatusForbidden:
			return fmt.Errorf("%w: %w", providers.ErrPermission, err)
		case re.StatusCode == http.StatusNotFound:
			return fmt.Errorf("%w: %w", providers.ErrNotFound, err)
		case re.StatusCode == http.StatusBadRequest && strings.Contains(err.Error(), "check-and-set"):
			return fmt.Errorf("%w: %w", providers.ErrConflict, err)
		}
	}
	return providers.Unreachable("vault", err)
}
