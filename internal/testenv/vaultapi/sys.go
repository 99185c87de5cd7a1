package vaultapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// builtinMountInfo describes a built-in mount (sys/, auth/token/) as Vault lists it.
func builtinMountInfo(typ, description, accessor string, sealWrap bool, config map[string]any) map[string]any {
	cfg := map[string]any{"default_lease_ttl": 0, "max_lease_ttl": 0, "force_no_cache": false}
	for k, v := range config {
		cfg[k] = v
	}
	return map[string]any{
		"type":                    typ,
		"description":             description,
		"accessor":                accessor,
		"local":                   false,
		"seal_wrap":               sealWrap,
		"external_entropy_access": false,
		"options":                 nil,
		"uuid":                    "",
		"plugin_version":          "",
		"running_plugin_version":  "v" + vaultVersion + "+builtin.vault",
		"running_sha256":          "",
		"config":                  cfg,
	}
}

// systemMountInfo describes the sys/ mount in sys/mounts listings, as Vault lists it.
func systemMountInfo() map[string]any {
	return builtinMountInfo("system", "system endpoints used for control, policy and debugging", "system_00000000", true, nil)
}

// serveSystem answers the sys/ and auth/token/ endpoints this server implements.
func (s *Server) serveSystem(w http.ResponseWriter, r *http.Request, req *logical.Request) {
	resp, inject, err := s.system(req)
	if resp != nil {
		resp.MountType = "system"
		if strings.HasPrefix(req.Path, "auth/token/") {
			resp.MountType = "token"
		}
	}
	if respondErrorCommon(w, req, resp, err) {
		return
	}
	respondLogical(w, req, resp, inject)
}

// system runs one system request. inject reports whether Vault repeats the data fields at the
// top level of the answer for this endpoint.
func (s *Server) system(req *logical.Request) (resp *logical.Response, inject bool, err error) {
	p := req.Path
	switch {
	case p == "sys/mounts":
		if req.Operation != logical.ReadOperation {
			return nil, false, logical.ErrUnsupportedOperation
		}
		data := map[string]any{"sys/": systemMountInfo()}
		for _, m := range s.mountList() {
			data[m.path] = m.info()
		}
		return &logical.Response{Data: data}, true, nil

	case strings.HasPrefix(p, "sys/mounts/") && strings.HasSuffix(strings.TrimSuffix(p, "/"), "/tune"):
		path := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(p, "/"), "sys/mounts/"), "/tune")
		return s.tune(req, path)

	case strings.HasPrefix(p, "sys/mounts/"):
		return s.mountEndpoint(req, strings.TrimPrefix(p, "sys/mounts/"))

	case strings.HasPrefix(p, "sys/internal/ui/mounts/"):
		if req.Operation != logical.ReadOperation {
			return nil, false, logical.ErrUnsupportedOperation
		}
		resp, err := s.uiMount(strings.TrimPrefix(p, "sys/internal/ui/mounts/"))
		return resp, false, err

	case p == "sys/capabilities-self":
		if req.Operation != logical.UpdateOperation {
			return nil, false, logical.ErrUnsupportedOperation
		}
		return capabilitiesSelf(req), true, nil

	case p == "sys/auth":
		if req.Operation != logical.ReadOperation {
			return nil, false, logical.ErrUnsupportedOperation
		}
		return &logical.Response{Data: map[string]any{"token/": s.tokenAuthInfo()}}, true, nil

	case p == "auth/token/lookup-self":
		if req.Operation != logical.ReadOperation && req.Operation != logical.UpdateOperation {
			return nil, false, logical.ErrUnsupportedOperation
		}
		return &logical.Response{Data: s.rootTokenInfo()}, false, nil
	}
	return logical.ErrorResponse("unsupported path"), false, logical.ErrUnsupportedPath
}

// mountEndpoint serves sys/mounts/<path>: read, enable, disable.
func (s *Server) mountEndpoint(req *logical.Request, path string) (*logical.Response, bool, error) {
	path = sanitizePath(path)
	switch req.Operation {
	case logical.ReadOperation:
		if path == "sys/" {
			return &logical.Response{Data: systemMountInfo()}, true, nil
		}
		m := s.match(path)
		if m == nil {
			return logical.ErrorResponse("No secret engine mount at %s", path), true, nil
		}
		return &logical.Response{Data: m.info()}, true, nil

	case logical.UpdateOperation:
		var in struct {
			Type        string            `json:"type"`
			Description string            `json:"description"`
			Options     map[string]string `json:"options"`
		}
		// Round-trip through JSON to accept the field types Vault accepts for these keys.
		raw, err := json.Marshal(req.Data)
		if err == nil {
			err = json.Unmarshal(raw, &in)
		}
		if err != nil {
			return logical.ErrorResponse("error parsing mount input: %v", err), false, logical.ErrInvalidRequest
		}
		if err := s.mount(path, in.Type, in.Options, in.Description); err != nil {
			return logical.ErrorResponse(err.Error()), false, logical.ErrInvalidRequest
		}
		return nil, false, nil

	case logical.DeleteOperation:
		return nil, false, s.Unmount(path)
	}
	return nil, false, logical.ErrUnsupportedOperation
}

// tune serves sys/mounts/<path>/tune for reading; tuning is not supported.
func (s *Server) tune(req *logical.Request, path string) (*logical.Response, bool, error) {
	if req.Operation != logical.ReadOperation {
		return logical.ErrorResponse("tuning mounts is not supported by this server"), false, logical.ErrInvalidRequest
	}
	m := s.match(sanitizePath(path))
	if m == nil {
		return logical.ErrorResponse("cannot fetch sysview for path %q", sanitizePath(path)), true, logical.ErrInvalidRequest
	}
	ttl := int64(defaultLeaseTTL.Seconds())
	return &logical.Response{Data: map[string]any{
		"description":       m.description,
		"default_lease_ttl": ttl,
		"max_lease_ttl":     ttl,
		"force_no_cache":    false,
		"options":           m.options,
	}}, true, nil
}

// uiMount serves sys/internal/ui/mounts/<path>: the mount serving path, or 403 when there is
// none (Vault answers 403 so the endpoint cannot be used to list mounts).
func (s *Server) uiMount(path string) (*logical.Response, error) {
	if path == "" {
		return logical.ErrorResponse("path not set"), logical.ErrInvalidRequest
	}
	path = sanitizePath(path)
	var data map[string]any
	if strings.HasPrefix(path, "sys/") {
		data = systemMountInfo()
		data["path"] = "sys/"
	} else if m := s.match(path); m != nil {
		data = m.info()
		data["path"] = m.path
	} else {
		msg := fmt.Sprintf("preflight capability check returned 403, please ensure client's policies grant access to path %q", path)
		return logical.ErrorResponse(msg), logical.ErrPermissionDenied
	}
	return &logical.Response{Data: data}, nil
}

// capabilitiesSelf answers sys/capabilities-self: the root token may do everything.
func capabilitiesSelf(req *logical.Request) *logical.Response {
	var paths []string
	add := func(v any) {
		switch v := v.(type) {
		case string:
			for p := range strings.SplitSeq(v, ",") {
				if p = strings.TrimSpace(p); p != "" {
					paths = append(paths, p)
				}
			}
		case []any:
			for _, e := range v {
				if str, ok := e.(string); ok {
					paths = append(paths, str)
				}
			}
		}
	}
	add(req.Data["paths"])
	add(req.Data["path"])
	sort.Strings(paths)

	data := map[string]any{}
	for _, p := range paths {
		data[p] = []string{"root"}
	}
	if len(paths) == 1 {
		data["capabilities"] = []string{"root"}
	}
	return &logical.Response{Data: data}
}

func (s *Server) tokenAuthInfo() map[string]any {
	return builtinMountInfo("token", "token based credentials", "auth_token_00000000", false, map[string]any{"token_type": "default-service"})
}

// rootTokenInfo is the answer of auth/token/lookup-self for the root token.
func (s *Server) rootTokenInfo() map[string]any {
	return map[string]any{
		"accessor":         s.rootAccessor,
		"creation_time":    s.started.Unix(),
		"creation_ttl":     int64(0),
		"display_name":     "root",
		"entity_id":        "",
		"expire_time":      nil,
		"explicit_max_ttl": int64(0),
		"id":               s.rootToken,
		"meta":             nil,
		"num_uses":         0,
		"orphan":           true,
		"path":             "auth/token/root",
		"policies":         []string{"root"},
		"ttl":              int64(0),
		"type":             "service",
	}
}

// serveHealth answers sys/health: an initialized, unsealed, active node.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodHead:
		w.WriteHeader(http.StatusOK)
		return
	default:
		logical.RespondError(w, http.StatusMethodNotAllowed, nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"initialized":                       true,
		"sealed":                            false,
		"standby":                           false,
		"performance_standby":               false,
		"replication_performance_mode":      "disabled",
		"replication_dr_mode":               "disabled",
		"server_time_utc":                   time.Now().Unix(),
		"version":                           vaultVersion,
		"enterprise":                        false,
		"cluster_name":                      "vault-cluster-" + s.clusterID[:8],
		"cluster_id":                        s.clusterID,
		"echo_duration_ms":                  0,
		"clock_skew_ms":                     0,
		"replication_primary_canary_age_ms": 0,
		"removed_from_cluster":              false,
	})
}

// serveSealStatus answers sys/seal-status: unsealed.
func (s *Server) serveSealStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		logical.RespondError(w, http.StatusMethodNotAllowed, nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"type":                 "shamir",
		"initialized":          true,
		"sealed":               false,
		"t":                    1,
		"n":                    1,
		"progress":             0,
		"nonce":                "",
		"version":              vaultVersion,
		"build_date":           "",
		"migration":            false,
		"cluster_name":         "vault-cluster-" + s.clusterID[:8],
		"cluster_id":           s.clusterID,
		"recovery_seal":        false,
		"storage_type":         "inmem",
		"removed_from_cluster": false,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
