package vaultapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	uuid "github.com/hashicorp/go-uuid"
	"github.com/hashicorp/vault/sdk/helper/jsonutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// mergePatchContentType is the only body type Vault accepts for PATCH.
const mergePatchContentType = "application/merge-patch+json"

// buildRequest turns r into a logical request for path (the URL path without "/v1/"), mapping
// methods to operations the way Vault's HTTP layer does. A non-zero status (with an optional
// error) is the answer for a request that cannot be built.
func buildRequest(w http.ResponseWriter, r *http.Request, path string) (*logical.Request, int, error) {
	var op logical.Operation
	var data map[string]any
	switch r.Method {
	case http.MethodGet:
		op = logical.ReadOperation
		q := r.URL.Query()
		if listStr := q.Get("list"); listStr != "" {
			list, err := strconv.ParseBool(listStr)
			if err != nil {
				return nil, http.StatusBadRequest, nil
			}
			if list {
				q.Del("list")
				op = logical.ListOperation
				if !strings.HasSuffix(path, "/") {
					path += "/"
				}
			}
		}
		data = parseQuery(q)
	case "LIST":
		op = logical.ListOperation
		if !strings.HasSuffix(path, "/") {
			path += "/"
		}
		data = parseQuery(r.URL.Query())
	case http.MethodPost, http.MethodPut:
		op = logical.UpdateOperation
		var err error
		if data, err = parseBody(w, r); err != nil {
			status := http.StatusBadRequest
			logical.AdjustErrorStatusCode(&status, err)
			return nil, status, fmt.Errorf("error parsing JSON: %w", err)
		}
	case http.MethodPatch:
		op = logical.PatchOperation
		ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil {
			return nil, http.StatusBadRequest, err
		}
		if ct != mergePatchContentType {
			return nil, http.StatusUnsupportedMediaType, fmt.Errorf("PATCH requires Content-Type of %s, provided %s", mergePatchContentType, ct)
		}
		if data, err = parseBody(w, r); err != nil {
			status := http.StatusBadRequest
			logical.AdjustErrorStatusCode(&status, err)
			return nil, status, errors.New("error parsing JSON")
		}
	case http.MethodDelete:
		op = logical.DeleteOperation
		data = parseQuery(r.URL.Query())
	case http.MethodHead:
		op = logical.HeaderOperation
		data = parseQuery(r.URL.Query())
	default:
		return nil, http.StatusMethodNotAllowed, nil
	}

	id, err := uuid.GenerateUUID()
	if err != nil {
		return nil, http.StatusInternalServerError, fmt.Errorf("failed to generate identifier for the request: %w", err)
	}
	return &logical.Request{
		ID:         id,
		Operation:  op,
		Path:       path,
		Data:       data,
		Connection: connection(r),
	}, 0, nil
}

// parseBody decodes a JSON object body, with numbers kept as json.Number as Vault does. An
// empty body gives nil data.
func parseBody(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	var data map[string]any
	err := jsonutil.DecodeJSONFromReader(http.MaxBytesReader(w, r.Body, maxRequestSize), &data)
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to parse JSON input: %w", err)
	}
	return data, nil
}

// parseQuery turns query parameters into request data, as Vault does for GET, LIST and DELETE.
func parseQuery(values url.Values) map[string]any {
	data := map[string]any{}
	for k, v := range values {
		if k == "help" {
			continue
		}
		switch len(v) {
		case 0:
		case 1:
			data[k] = v[0]
		default:
			data[k] = v
		}
	}
	if len(data) == 0 {
		return nil
	}
	return data
}

func connection(r *http.Request) *logical.Connection {
	host, port, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return &logical.Connection{ConnState: r.TLS}
	}
	p, _ := strconv.Atoi(port)
	return &logical.Connection{RemoteAddr: host, RemotePort: p, ConnState: r.TLS}
}

// serveEngine routes req to the KV engine of its mount and writes the answer. It reports
// whether the engine answered with success.
func (s *Server) serveEngine(w http.ResponseWriter, r *http.Request, req *logical.Request) bool {
	m := s.match(req.Path)
	if m == nil {
		msg := fmt.Sprintf("no handler for route %q. route entry not found.", req.Path)
		logical.RespondError(w, http.StatusNotFound, errors.New(msg))
		return false
	}
	// A path naming the mount itself without its trailing slash is the mount's root.
	rel, ok := strings.CutPrefix(req.Path, m.path)
	if !ok {
		rel = ""
	}
	req.Path = rel
	req.MountPoint = m.path
	req.MountType = "kv"
	req.MountAccessor = m.accessor
	req.Storage = m.storage
	req.DisplayName = "root"
	req.ClientTokenAccessor = s.rootAccessor
	ctx := r.Context()

	// Vault asks the engine whether the target exists to tell a create from an update; the KV
	// engine's policies and responses depend on it.
	if req.Operation == logical.UpdateOperation {
		checkFound, exists, err := m.backend.HandleExistenceCheck(ctx, req)
		switch {
		case errors.Is(err, logical.ErrUnsupportedPath):
			// Fails below with the engine's own message.
		case err != nil:
			logical.RespondError(w, http.StatusBadRequest, err)
			return false
		case checkFound && !exists:
			req.Operation = logical.CreateOperation
		}
	}

	resp, err := m.backend.HandleRequest(ctx, req)
	if resp != nil {
		resp.MountType = "kv"
	}
	if respondErrorCommon(w, req, resp, err) {
		return false
	}
	return respondLogical(w, req, resp, false) < http.StatusBadRequest
}

// respondErrorCommon writes the error answer for a failed request, using Vault's own mapping of
// engine errors to status codes, and reports whether it did.
func respondErrorCommon(w http.ResponseWriter, req *logical.Request, resp *logical.Response, err error) bool {
	status, err := logical.RespondErrorCommon(req, resp, err)
	if err == nil && status == 0 {
		return false
	}
	if resp != nil {
		if data := resp.Data["data"]; data != nil {
			logical.RespondErrorAndData(w, status, data, err)
			return true
		}
	}
	logical.RespondError(w, status, err)
	return true
}

// respondLogical writes a successful answer in Vault's envelope (or 204 when there is nothing to
// say) and returns the status sent. With inject, data fields are repeated at the top level, as
// Vault does for some sys endpoints.
func respondLogical(w http.ResponseWriter, req *logical.Request, resp *logical.Response, inject bool) int {
	if resp == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent
	}
	if _, ok := resp.Data[logical.HTTPStatusCode]; ok {
		return respondRaw(w, resp)
	}
	httpResp := logical.LogicalResponseToHTTPResponse(resp)
	httpResp.RequestID = req.ID
	var body any = httpResp
	if inject {
		body = logical.HTTPSysInjector{Response: httpResp}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(body)
	return http.StatusOK
}

// respondRaw writes a response an engine built with logical.RespondWithStatusCode (the KV
// engine's 404 answers for deleted or destroyed versions), and returns the status sent.
func respondRaw(w http.ResponseWriter, resp *logical.Response) int {
	fail := func(msg string) int {
		w.Header().Set("X-Vault-Raw-Error", msg)
		w.WriteHeader(http.StatusInternalServerError)
		return http.StatusInternalServerError
	}
	if resp.Secret != nil || resp.Auth != nil {
		return fail("raw responses cannot contain secrets or auth")
	}
	var status int
	switch v := resp.Data[logical.HTTPStatusCode].(type) {
	case int:
		status = v
	case float64:
		status = int(v)
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return fail("cannot decode status code")
		}
		status = int(f)
	default:
		return fail("cannot decode status code")
	}

	var body []byte
	if status != http.StatusNoContent {
		switch v := resp.Data[logical.HTTPRawBody].(type) {
		case nil:
		case string:
			// The body may or may not be base64 encoded; Vault tries both.
			if dec, err := base64.StdEncoding.DecodeString(v); err == nil {
				body = dec
			} else {
				body = []byte(v)
			}
		case []byte:
			body = v
		default:
			return fail("cannot decode body")
		}
	}
	if ct, ok := resp.Data[logical.HTTPContentType].(string); ok && ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return status
}
