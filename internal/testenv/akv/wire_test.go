package akv

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// do sends one raw request; token "" sends no Authorization.
func do(t testing.TB, hc *http.Client, s *Server, method, pathQuery, body, token string, header http.Header) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL()+pathQuery, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readBody(t testing.TB, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// keyOrder returns the keys of the JSON object body in order.
func keyOrder(t testing.TB, body string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", body)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestChallengeBeforeBody(t *testing.T) {
	s := startServer(t, Options{Tenant: "72f988bf-0000-4000-8000-000000000001"})
	hc := s.HTTPClient()
	for _, tc := range []struct {
		name, method, path, body, token, message string
	}{
		{"no token, no body", http.MethodPut, "/secrets/x?api-version=7.6", "", "", msgMissingToken},
		{"no token, a body that is not JSON", http.MethodPut, "/secrets/x?api-version=7.6", "{not json", "", msgMissingToken},
		{"no token, no api-version", http.MethodGet, "/secrets", "", "", msgMissingToken},
		{"a token the server never issued", http.MethodGet, "/secrets?api-version=7.6", "", "forged", "AKV10000: The Bearer token was not issued by this test server."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, hc, s, tc.method, tc.path, tc.body, tc.token, nil)
			body := readBody(t, r)
			if r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d %s", r.StatusCode, body)
			}
			const wantChallenge = `Bearer authorization="https://login.microsoftonline.com/72f988bf-0000-4000-8000-000000000001", resource="https://vault.azure.net"`
			if got := r.Header.Get("WWW-Authenticate"); got != wantChallenge {
				t.Errorf("WWW-Authenticate %s", got)
			}
			if want := `{"error":{"code":"Unauthorized","message":"` + tc.message + `"}}`; body != want {
				t.Errorf("body %s, want %s", body, want)
			}
		})
	}
	r := do(t, hc, s, http.MethodPut, "/secrets/x", `{"value":"v"}`, "", nil)
	if body := readBody(t, r); r.Header.Get("Content-Length") != "108" {
		t.Errorf("the 2026 challenge body is 108 bytes; got %s: %s", r.Header.Get("Content-Length"), body)
	}
}

func TestWireShapes(t *testing.T) {
	s := startServer(t, Options{})
	hc := s.HTTPClient()
	tok := s.tokens.static
	h := http.Header{"X-Ms-Client-Request-Id": {"c0ffee00-0000-4000-8000-000000000000"}}

	r := do(t, hc, s, http.MethodPut, "/secrets/Shape?api-version=2025-07-01",
		`{"value":"a<b&c","contentType":"ct","tags":{"a":"1"},"attributes":{"enabled":true,"nbf":1893459661,"exp":2208992461}}`, tok, h)
	body := readBody(t, r)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.StatusCode, body)
	}
	for k, want := range map[string]string{
		"Content-Type":                  "application/json; charset=utf-8",
		"Cache-Control":                 "no-cache",
		"Pragma":                        "no-cache",
		"Expires":                       "-1",
		"Strict-Transport-Security":     "max-age=31536000;includeSubDomains",
		"X-Content-Type-Options":        "nosniff",
		"X-Ms-Client-Request-Id":        "c0ffee00-0000-4000-8000-000000000000",
		"X-Ms-Keyvault-Service-Version": "1.9.3347.1",
		"X-Ms-Keyvault-Network-Info":    "conn_type=Ipv4;addr=127.0.0.1;act_addr_fam=InterNetwork;",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(r.Header.Get("x-ms-request-id")) {
		t.Errorf("x-ms-request-id %q", r.Header.Get("x-ms-request-id"))
	}
	if got := strings.Join(keyOrder(t, body), ","); got != "value,contentType,id,attributes,tags" {
		t.Errorf("bundle keys %s", got)
	}
	attrs := regexp.MustCompile(`"attributes":(\{[^}]*\})`).FindStringSubmatch(body)[1]
	if got := strings.Join(keyOrder(t, attrs), ","); got != "enabled,nbf,exp,created,updated,recoveryLevel,recoverableDays" {
		t.Errorf("attribute keys %s", got)
	}
	if !strings.HasPrefix(body, `{"value":"a<b&c",`) {
		t.Errorf("body %s: the service does not escape <, > and &", body)
	}

	r = do(t, hc, s, http.MethodDelete, "/secrets/shape?api-version=7.6", "", tok, nil)
	if got := strings.Join(keyOrder(t, readBody(t, r)), ","); got != "recoveryId,deletedDate,scheduledPurgeDate,contentType,id,attributes,tags" {
		t.Errorf("deleted bundle keys %s", got)
	}
	r = do(t, hc, s, http.MethodDelete, "/deletedsecrets/shape?api-version=7.6", "", tok, nil)
	if b := readBody(t, r); r.StatusCode != http.StatusNoContent || b != "" {
		t.Errorf("purge: %d %q", r.StatusCode, b)
	}
	if _, ok := r.Header["Content-Type"]; ok {
		t.Error("204 has a Content-Type")
	}
	if _, ok := r.Header["Content-Length"]; ok {
		t.Error("204 has a Content-Length")
	}

	for _, tc := range []struct {
		name, method, path, code string
		status                   int
	}{
		{"no api-version", http.MethodGet, "/secrets", "BadParameter", 400},
		{"PUT with an empty name", http.MethodPut, "/secrets/?api-version=7.4", "MethodNotAllowed", 405},
		{"maxresults over 25", http.MethodGet, "/secrets?api-version=7.6&maxresults=26", "BadParameter", 400},
		{"maxresults 0", http.MethodGet, "/secrets?api-version=7.6&maxresults=0", "BadParameter", 400},
		{"bad skiptoken", http.MethodGet, "/secrets?api-version=7.6&$skiptoken=Sanitized", "BadParameter", 400},
		{"keys API", http.MethodGet, "/keys?api-version=7.6", "NotFound", 404},
		{"purge of an active name", http.MethodDelete, "/deletedsecrets/none?api-version=7.6", "SecretNotFound", 404},
		{"outContentType on an unknown name", http.MethodGet, "/secrets/nothing?api-version=2025-07-01&outContentType=application%2Fx-pem-file", "SecretNotFound", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, hc, s, tc.method, tc.path, "", tok, nil)
			var e errorJSON
			body := readBody(t, r)
			if err := json.Unmarshal([]byte(body), &e); err != nil || r.StatusCode != tc.status || e.Error.Code != tc.code {
				t.Errorf("got %d %s, want %d %s", r.StatusCode, body, tc.status, tc.code)
			}
		})
	}
}

func TestNextLink(t *testing.T) {
	s := startServer(t, Options{})
	c := newClient(t, s)
	for _, n := range []string{"alpha", "Beta", "gamma"} {
		set(t, c, n, "v")
	}
	r := do(t, s.HTTPClient(), s, http.MethodGet, "/secrets?api-version=7.6&maxresults=2", "", s.tokens.static, nil)
	var page struct {
		Value    []propsJSON
		NextLink string
	}
	if err := json.Unmarshal([]byte(readBody(t, r)), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Value) != 2 || !strings.HasSuffix(page.Value[1].ID, "/secrets/Beta") {
		t.Fatalf("first page %+v", page.Value)
	}
	prefix := s.URL() + "/secrets?api-version=7.6&$skiptoken="
	if !strings.HasPrefix(page.NextLink, prefix) || !strings.HasSuffix(page.NextLink, "&maxresults=2") {
		t.Fatalf("nextLink %s", page.NextLink)
	}
	u, _ := url.Parse(page.NextLink)
	if m, ok := decodeSkipToken(u.Query().Get("$skiptoken")); !ok || m != "secret/GAMMA" {
		t.Errorf("skiptoken marker %q %v", m, ok)
	}
}

func TestSkipTokenFormat(t *testing.T) {
	// Tokens the service issued (B:TestGetPropertiesOfSecret and the 2018 node recording).
	for tok, want := range map[string]string{
		"eyJOZXh0TWFya2VyIjoiMiExMDAhTURBd01ETXhJWE5sWTNKbGRDOUhSVlJRVWs5UVJWSlVTVVZUVDBaVFJVTlNSVlJUTVRjaE1EQXdNREk0SVRrNU9Ua3RNVEl0TXpGVU1qTTZOVGs2TlRrdU9UazVPVGs1T1ZvaCIsIlRhcmdldExvY2F0aW9uIjowfQ": "secret/GETPROPERTIESOFSECRETS17",
		"eyJOZXh0TWFya2VyIjoiMiE4NCFNREF3TURFM0lYTmxZM0psZEM5T1QwUkZVMFZEVWtWVUlUQXdNREF5T0NFNU9UazVMVEV5TFRNeFZESXpPalU1T2pVNUxqazVPVGs1T1RsYUlRLS0iLCJUYXJnZXRMb2NhdGlvbiI6MH0":                        "secret/NODESECRET",
	} {
		if got, ok := decodeSkipToken(tok); !ok || got != want {
			t.Errorf("decode: %q %v, want %q", got, ok, want)
		}
		if enc := encodeSkipToken(want); enc != tok {
			t.Errorf("encode(%s) = %s, want the service's %s", want, enc, tok)
		}
	}
}
