package vaultapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	uuid "github.com/hashicorp/go-uuid"
	kv "github.com/hashicorp/vault-plugin-secrets-kv"
	"github.com/hashicorp/vault/sdk/logical"
)

const (
	// vaultVersion is the Vault release that ships kv engine v0.25.0; sys/health reports it.
	vaultVersion = "1.21.4"
	// kvPluginVersion is the version of the KV engine this package links.
	kvPluginVersion = "v0.25.0+builtin"
	// defaultLeaseTTL is Vault's default and maximum lease TTL (768h); KV v1 reads report it
	// as lease_duration.
	defaultLeaseTTL = 768 * time.Hour
)

// protectedMounts are the paths Vault refuses to mount an engine at.
var protectedMounts = []string{"audit/", "auth/", "sys/", "cubbyhole/", "identity/"}

// mount is one KV engine and its storage.
type mount struct {
	path        string // with trailing slash, e.g. "secret/"
	version     string // "1" or "2"
	options     map[string]string
	description string
	accessor    string
	uuid        string
	backend     logical.Backend
	storage     logical.Storage
}

// Mount enables a KV engine of version 1 or 2 at path (e.g. "secret" or "team/a"), as
// "vault secrets enable -path=<path> -version=<version> kv" does.
func (s *Server) Mount(path string, version int) error {
	if version != 1 && version != 2 {
		return fmt.Errorf("kv version %d is not 1 or 2", version)
	}
	return s.mount(path, "kv", map[string]string{"version": fmt.Sprint(version)}, "")
}

func (s *Server) mount(path, typ string, options map[string]string, description string) error {
	path = sanitizePath(path)
	if path == "/" || path == "" {
		return errors.New("path cannot be empty")
	}
	for _, p := range protectedMounts {
		if strings.HasPrefix(path, p) {
			return fmt.Errorf("cannot mount %q", path)
		}
	}
	if options == nil {
		options = map[string]string{}
	}
	switch typ {
	case "kv":
	case "kv-v1":
		options["version"] = "1"
	case "kv-v2":
		options["version"] = "2"
	case "":
		return errors.New("backend type must be specified as a string")
	default:
		return fmt.Errorf("plugin not found in the catalog: %s", typ)
	}
	version := options["version"]
	switch version {
	case "":
		// Vault mounts an unversioned kv as version 1 and leaves the option unset.
		version = "1"
	case "1", "2":
	default:
		return fmt.Errorf("invalid kv version %q", version)
	}
	if description == "" {
		description = "key/value secret storage"
	}

	backendUUID, err := uuid.GenerateUUID()
	if err != nil {
		return fmt.Errorf("generate uuid for mount %s: %w", path, err)
	}
	mountUUID, err := uuid.GenerateUUID()
	if err != nil {
		return fmt.Errorf("generate uuid for mount %s: %w", path, err)
	}
	accessor := make([]byte, 4)
	if _, err := rand.Read(accessor); err != nil {
		return fmt.Errorf("generate accessor for mount %s: %w", path, err)
	}

	ctx := context.Background()
	storage := &logical.InmemStorage{}
	conf := &logical.BackendConfig{
		StorageView: storage,
		BackendUUID: backendUUID,
		System: logical.StaticSystemView{
			DefaultLeaseTTLVal: defaultLeaseTTL,
			MaxLeaseTTLVal:     defaultLeaseTTL,
			VersionString:      vaultVersion,
		},
		Config: map[string]string{"version": version},
	}
	backend, err := kv.Factory(ctx, conf)
	if err != nil {
		return fmt.Errorf("create kv engine for mount %s: %w", path, err)
	}
	if err := backend.Initialize(ctx, &logical.InitializationRequest{Storage: storage}); err != nil {
		backend.Cleanup(ctx)
		return fmt.Errorf("initialize kv engine for mount %s: %w", path, err)
	}
	m := &mount{
		path:        path,
		version:     version,
		options:     options,
		description: description,
		accessor:    "kv_" + hex.EncodeToString(accessor),
		uuid:        mountUUID,
		backend:     backend,
		storage:     storage,
	}

	s.mountsMu.Lock()
	defer s.mountsMu.Unlock()
	for p := range s.mounts {
		if strings.HasPrefix(p, path) || strings.HasPrefix(path, p) {
			backend.Cleanup(ctx)
			return fmt.Errorf("path is already in use at %s", p)
		}
	}
	s.mounts[path] = m
	return nil
}

// Unmount disables the engine mounted exactly at path and discards its data. Like Vault, it
// succeeds when nothing is mounted there.
func (s *Server) Unmount(path string) error {
	path = sanitizePath(path)
	s.mountsMu.Lock()
	m := s.mounts[path]
	delete(s.mounts, path)
	s.mountsMu.Unlock()
	if m != nil {
		m.backend.Cleanup(context.Background())
	}
	return nil
}

// match returns the mount serving path (the longest mount prefix), or nil.
func (s *Server) match(path string) *mount {
	s.mountsMu.RLock()
	defer s.mountsMu.RUnlock()
	// Mounts cannot nest (Mount refuses prefixes of each other), so at most one matches.
	for p, m := range s.mounts {
		if strings.HasPrefix(path, p) || path+"/" == p {
			return m
		}
	}
	return nil
}

// mountList returns the mounts sorted by path.
func (s *Server) mountList() []*mount {
	s.mountsMu.RLock()
	defer s.mountsMu.RUnlock()
	out := make([]*mount, 0, len(s.mounts))
	for _, m := range s.mounts {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

func (s *Server) closeMounts() {
	s.mountsMu.Lock()
	ms := s.mounts
	s.mounts = map[string]*mount{}
	s.mountsMu.Unlock()
	for _, m := range ms {
		m.backend.Cleanup(context.Background())
	}
}

// info is the mount's description in the shape of Vault's sys/mounts responses.
func (m *mount) info() map[string]any {
	return map[string]any{
		"type":                    "kv",
		"description":             m.description,
		"accessor":                m.accessor,
		"local":                   false,
		"seal_wrap":               false,
		"external_entropy_access": false,
		"options":                 m.options,
		"uuid":                    m.uuid,
		"plugin_version":          "",
		"running_plugin_version":  kvPluginVersion,
		"running_sha256":          "",
		"deprecation_status":      "supported",
		"config": map[string]any{
			"default_lease_ttl": 0,
			"max_lease_ttl":     0,
			"force_no_cache":    false,
		},
	}
}

// sanitizePath makes p relative and slash-terminated, as Vault's sys backend does.
func sanitizePath(p string) string {
	p = strings.TrimPrefix(p, "/")
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}
