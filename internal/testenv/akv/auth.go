package akv

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// vaultResource is the resource the challenge names; tokens must be issued for it.
const vaultResource = "https://vault.azure.net"

// tokenLifetime is the expires_in Microsoft Entra ID answers for app tokens.
const tokenLifetime = 3599 * time.Second

// tokenStore holds the bearer tokens the server accepts: the static one and those its token
// endpoint issued.
type tokenStore struct {
	static string
	mu     sync.Mutex
	issued map[string]issuedToken
}

type issuedToken struct {
	expires time.Time
	scope   string
}

func newTokenStore() (*tokenStore, error) {
	t, err := randomToken("static")
	if err != nil {
		return nil, err
	}
	return &tokenStore{static: t, issued: map[string]issuedToken{}}, nil
}

func randomToken(kind string) (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate %s token: %w", kind, err)
	}
	return "akv-test-" + kind + "." + base64.RawURLEncoding.EncodeToString(b), nil
}

func (ts *tokenStore) issue(scope string) (string, error) {
	t, err := randomToken("issued")
	if err != nil {
		return "", err
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.issued[t] = issuedToken{expires: time.Now().Add(tokenLifetime), scope: scope}
	return t, nil
}

// expireAll makes every issued token expired: the vault answers 401 to each from now on.
func (ts *tokenStore) expireAll() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	past := time.Now().Add(-time.Second)
	for t, it := range ts.issued {
		it.expires = past
		ts.issued[t] = it
	}
}

// check returns nil for a token the vault accepts, or the 401 to answer.
func (ts *tokenStore) check(token string) *apiError {
	if subtle.ConstantTimeCompare([]byte(token), []byte(ts.static)) == 1 {
		return nil
	}
	ts.mu.Lock()
	it, ok := ts.issued[token]
	ts.mu.Unlock()
	switch {
	case !ok:
		// The service's wording for a token it cannot validate is not on record.
		return errUnauthorized("AKV10000: The Bearer token was not issued by this test server.")
	case time.Now().After(it.expires):
		return errUnauthorized("AKV10000: The Bearer token has expired.")
	case !scopeIsVault(it.scope):
		return errUnauthorized("AKV10022: Invalid audience. Expected " + vaultResource + ", found: " + it.scope + ".")
	}
	return nil
}

func scopeIsVault(scope string) bool {
	for _, s := range strings.Fields(scope) {
		s = strings.TrimSuffix(strings.TrimSuffix(s, "/.default"), "/")
		if strings.EqualFold(s, vaultResource) {
			return true
		}
	}
	return false
}

// challenge is the WWW-Authenticate header of a 401.
func (s *Server) challenge() string {
	return `Bearer authorization="https://login.microsoftonline.com/` + s.tenant + `", resource="` + vaultResource + `"`
}

// authenticate checks the bearer token before anything else about the request, the body
// included (AKV-SHAPES.md §1).
func (s *Server) authenticate(r *http.Request) *apiError {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return errUnauthorized(msgMissingToken)
	}
	return s.tokens.check(token)
}

// Credential returns a credential that yields the server's static token, which the server
// accepts without a token request.
func (s *Server) Credential() azcore.TokenCredential { return staticCredential{token: s.tokens.static} }

type staticCredential struct{ token string }

func (c staticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// Identity endpoints: what MSAL for Go fetches for an authority https://<server>/<tenant>
// with instance discovery disabled, and the v1 token endpoint ADAL (go-autorest's adal, which
// External Secrets Operator's azurekv provider signs in with) posts to.

const (
	openIDSuffix = "/v2.0/.well-known/openid-configuration"
	tokenSuffix  = "/oauth2/v2.0/token"
)

func isIdentityPath(p string) bool {
	return strings.HasSuffix(p, openIDSuffix) || strings.HasSuffix(p, tokenSuffix) || isTokenV1Path(p)
}

// isTokenV1Path reports whether p is /{tenant}/oauth2/token, the v1 endpoint, which takes a
// resource instead of a scope. It is matched segment by segment: a vault path
// (/secrets/{name}/{version}) has three segments too.
func isTokenV1Path(p string) bool {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	return len(segs) == 3 && segs[0] != "" && segs[0] != "secrets" && segs[0] != "deletedsecrets" &&
		segs[1] == "oauth2" && segs[2] == "token"
}

// identityTenant returns the tenant segment of an identity path.
func identityTenant(p string) string {
	p = strings.TrimPrefix(p, "/")
	t, _, _ := strings.Cut(p, "/")
	return t
}

func (s *Server) serveIdentity(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store, no-cache")
	tenant := identityTenant(r.URL.Path)
	if !strings.EqualFold(tenant, s.tenant) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", 90002,
			fmt.Sprintf("AADSTS90002: Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return
	}
	switch {
	case strings.HasSuffix(r.URL.Path, openIDSuffix) && r.Method == http.MethodGet:
		s.serveOpenIDConfig(w, r)
	case strings.HasSuffix(r.URL.Path, tokenSuffix) && r.Method == http.MethodPost:
		s.serveToken(w, r, false)
	case isTokenV1Path(r.URL.Path) && r.Method == http.MethodPost:
		s.serveToken(w, r, true)
	default:
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", 900561,
			"AADSTS900561: The endpoint only accepts "+map[bool]string{true: "GET", false: "POST"}[strings.HasSuffix(r.URL.Path, openIDSuffix)]+" requests.")
	}
}

func (s *Server) serveOpenIDConfig(w http.ResponseWriter, r *http.Request) {
	base := "https://" + r.Host + "/" + s.tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + tokenSuffix,
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              "https://" + r.Host + "/" + s.tenant + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                base + "/v2.0",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"tenant_region_scope":                   "local",
	})
}

// serveToken is the client credentials grant, with a client secret or a client assertion
// (workload identity). The secret is compared in constant time and never echoed. The v1
// endpoint names what the token is for with resource (https://vault.azure.net) rather than
// scope, and answers its numbers as strings, with expires_on and the resource.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, v1 bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", 900144, "AADSTS900144: The request body must be a form.")
		return
	}
	f := r.PostForm
	if gt := f.Get("grant_type"); gt != "client_credentials" {
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", 70003,
			"AADSTS70003: The app requested an unsupported grant type; this test server serves only 'client_credentials'.")
		return
	}
	if id := f.Get("client_id"); !strings.EqualFold(id, s.clientID) {
		writeOAuthError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory '%s'.", id, s.tenant))
		return
	}
	switch {
	case f.Has("client_secret"):
		if subtle.ConstantTimeCompare([]byte(f.Get("client_secret")), []byte(s.clientSecret)) != 1 {
			writeOAuthError(w, http.StatusUnauthorized, "invalid_client", 7000215,
				"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+s.clientID+"'.")
			return
		}
	case f.Get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
		if msg := checkAssertion(f.Get("client_assertion")); msg != "" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_client", 700025, msg)
			return
		}
	default:
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", 7000218,
			"AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	param := "scope"
	if v1 {
		param = "resource"
	}
	scope := f.Get(param)
	if scope == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", 900144,
			"AADSTS900144: The request body must contain the following parameter: '"+param+"'.")
		return
	}
	tok, err := s.tokens.issue(scope)
	if err != nil {
		writeOAuthError(w, http.StatusInternalServerError, "temporarily_unavailable", 0, err.Error())
		return
	}
	lifetime := int(tokenLifetime / time.Second)
	if v1 {
		now := time.Now().Unix()
		writeJSON(w, http.StatusOK, struct {
			TokenType    string `json:"token_type"`
			ExpiresIn    string `json:"expires_in"`
			ExtExpiresIn string `json:"ext_expires_in"`
			ExpiresOn    string `json:"expires_on"`
			NotBefore    string `json:"not_before"`
			Resource     string `json:"resource"`
			AccessToken  string `json:"access_token"`
		}{"Bearer", strconv.Itoa(lifetime), strconv.Itoa(lifetime), strconv.FormatInt(now+int64(lifetime), 10),
			strconv.FormatInt(now, 10), scope, tok})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		TokenType    string `json:"token_type"`
		ExpiresIn    int    `json:"expires_in"`
		ExtExpiresIn int    `json:"ext_expires_in"`
		AccessToken  string `json:"access_token"`
	}{"Bearer", lifetime, lifetime, tok})
}

// checkAssertion accepts a compact JWT whose payload is JSON and, when it has exp, unexpired.
// Signatures are not checked: the server trusts any federated token, as a test double may.
func checkAssertion(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "AADSTS50027: The client assertion is not a JWT."
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Exp *int64 `json:"exp"`
	}
	if err != nil || json.Unmarshal(raw, &claims) != nil {
		return "AADSTS50027: The client assertion's payload is not valid JSON."
	}
	if claims.Exp != nil && time.Unix(*claims.Exp, 0).Before(time.Now()) {
		return "AADSTS700024: Client assertion is not within its valid time range."
	}
	return ""
}

// ExpireTokens makes every token the token endpoint issued so far expired, as an hour passing
// would: the vault answers 401 "expired" to each, and a client must get a new one.
func (s *Server) ExpireTokens() { s.tokens.expireAll() }

// FederatedToken returns a JWT the token endpoint accepts as a client assertion, with the
// audience Kubernetes workload identity uses; write it to the file AZURE_FEDERATED_TOKEN_FILE
// names. It is unsigned (alg "none") and expires in an hour.
func (s *Server) FederatedToken() string { return s.FederatedTokenUntil(time.Now().Add(time.Hour)) }

// FederatedTokenUntil is FederatedToken expiring at exp: one already expired is refused
// (AADSTS700024), as a projected service-account token the kubelet stopped refreshing is.
func (s *Server) FederatedTokenUntil(exp time.Time) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	now := time.Now().Unix()
	return enc(map[string]string{"alg": "none", "typ": "JWT"}) + "." + enc(map[string]any{
		"aud": []string{"api://AzureADTokenExchange"}, "iss": s.URL(), "sub": "system:serviceaccount:default:secretshift",
		"iat": min(now, exp.Unix()-3600), "nbf": min(now, exp.Unix()-3600), "exp": exp.Unix(),
	}) + "."
}

func writeOAuthError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	writeJSON(w, status, struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		ErrorCodes       []int  `json:"error_codes"`
		Timestamp        string `json:"timestamp"`
		TraceID          string `json:"trace_id"`
		CorrelationID    string `json:"correlation_id"`
	}{code, desc, []int{aadsts}, time.Now().UTC().Format("2006-01-02 15:04:05Z"), newGUID(), newGUID()})
}
