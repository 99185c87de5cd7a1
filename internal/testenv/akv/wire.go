package akv

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// The JSON bodies, with fields in the order the recordings show (AKV-SHAPES.md §0).

type attributesJSON struct {
	Enabled         bool   `json:"enabled"`
	NotBefore       *int64 `json:"nbf,omitempty"`
	Expires         *int64 `json:"exp,omitempty"`
	Created         int64  `json:"created"`
	Updated         int64  `json:"updated"`
	RecoveryLevel   string `json:"recoveryLevel"`
	RecoverableDays *int   `json:"recoverableDays,omitempty"`
}

// bundleJSON is a SecretBundle: a version with its value.
type bundleJSON struct {
	Value       string             `json:"value"`
	ContentType string             `json:"contentType,omitempty"`
	ID          string             `json:"id"`
	Attributes  attributesJSON     `json:"attributes"`
	Tags        *map[string]string `json:"tags,omitempty"`
}

// propsJSON is a bundle without its value (PATCH, recover, restore, list items).
type propsJSON struct {
	ContentType string             `json:"contentType,omitempty"`
	ID          string             `json:"id"`
	Attributes  attributesJSON     `json:"attributes"`
	Tags        *map[string]string `json:"tags,omitempty"`
}

// deletedJSON is a DeletedSecretBundle (never with a value) or a deleted list item.
type deletedJSON struct {
	RecoveryID         string             `json:"recoveryId"`
	DeletedDate        int64              `json:"deletedDate"`
	ScheduledPurgeDate int64              `json:"scheduledPurgeDate"`
	ContentType        string             `json:"contentType,omitempty"`
	ID                 string             `json:"id"`
	Attributes         attributesJSON     `json:"attributes"`
	Tags               *map[string]string `json:"tags,omitempty"`
}

type listJSON struct {
	Value    []any   `json:"value"`
	NextLink *string `json:"nextLink"`
}

type backupJSON struct {
	Value string `json:"value"`
}

// Request bodies. Pointers tell a field that was sent from one that was not.

type attributesIn struct {
	Enabled   *bool  `json:"enabled"`
	NotBefore *int64 `json:"nbf"`
	Expires   *int64 `json:"exp"`
}

type setIn struct {
	Value       *string            `json:"value"`
	ContentType *string            `json:"contentType"`
	Tags        *map[string]string `json:"tags"`
	Attributes  *attributesIn      `json:"attributes"`
}

type updateIn struct {
	ContentType *string            `json:"contentType"`
	Tags        *map[string]string `json:"tags"`
	Attributes  *attributesIn      `json:"attributes"`
}

type restoreIn struct {
	Value *string `json:"value"`
}

// apiError is a Key Vault error answer: {"error":{"code","message","innererror"?:{"code"}}}.
// Messages name objects but never carry a secret value.
type apiError struct {
	status     int
	code       string
	message    string
	inner      string
	retryAfter int // seconds; 0 sends no Retry-After
}

func (e *apiError) Error() string { return strconv.Itoa(e.status) + " " + e.code + ": " + e.message }

type errorJSON struct {
	Error struct {
		Code       string     `json:"code"`
		Message    string     `json:"message"`
		InnerError *innerJSON `json:"innererror,omitempty"`
	} `json:"error"`
}

type innerJSON struct {
	Code string `json:"code"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	var b errorJSON
	b.Error.Code, b.Error.Message = e.code, e.message
	if e.inner != "" {
		b.Error.InnerError = &innerJSON{Code: e.inner}
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	writeJSON(w, e.status, b)
}

// reply answers 200 with out, or the error e when there is one.
func reply(w http.ResponseWriter, out any, e *apiError) {
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// writeJSON sends v as compact JSON with an exact Content-Length. Like the service, it does not
// escape <, > and & (encoding/json would).
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only our own types are encoded; this cannot happen.
		panic("akv: encode response: " + err.Error())
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeNoContent answers 204 with neither Content-Type nor Content-Length, as the service does.
func writeNoContent(w http.ResponseWriter) {
	w.Header().Del("Content-Type")
	w.WriteHeader(http.StatusNoContent)
}

// The errors. Wording from the recordings unless a comment says otherwise.

const notFoundHelp = " was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"

func errSecretNotFound(nameOrID string) *apiError {
	return &apiError{status: http.StatusNotFound, code: "SecretNotFound",
		message: "A secret with (name/id) " + nameOrID + notFoundHelp}
}

func errDeletedNotFound(name string) *apiError {
	return &apiError{status: http.StatusNotFound, code: "SecretNotFound", message: "Deleted Secret not found: " + name}
}

func errDisabled() *apiError {
	return &apiError{status: http.StatusForbidden, code: "Forbidden", inner: "SecretDisabled",
		message: "Operation get is not allowed on a disabled secret."}
}

func errMethodNotAllowed(method string) *apiError {
	return &apiError{status: http.StatusMethodNotAllowed, code: "MethodNotAllowed", message: "HTTP " + method + " not allowed"}
}

func errDeletedButRecoverable(name string) *apiError {
	return &apiError{status: http.StatusConflict, code: "Conflict", inner: "ObjectIsDeletedButRecoverable",
		message: "Secret " + name + " is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged."}
}

// errBeingDeleted's secret wording is inferred from the keys recording (unverified).
func errBeingDeleted(name string) *apiError {
	return &apiError{status: http.StatusConflict, code: "Conflict", inner: "ObjectIsBeingDeleted",
		message: "Secret " + name + " is currently being deleted and cannot be re-created; retry later."}
}

func errBeingRecovered(name string) *apiError {
	return &apiError{status: http.StatusConflict, code: "Conflict", inner: "ObjectIsBeingRecovered",
		message: "Secret " + name + " is currently being recovered and cannot be re-created; retry later."}
}

func errRestoreConflict(id string) *apiError {
	return &apiError{status: http.StatusConflict, code: "Conflict",
		message: "There was a conflict restoring the secret '" + id + "'. This can happen if either: a second secret with the same name was created after the first secret was deleted; thus trying to restore a secret whose name is already in use. To fix this, rename the second secret to something else so that the restore works. The second probable cause of this exception is when multiple operations are performed in parallel against the secret. To avoid this error, perform operations against a secret in a sequential manner."}
}

func errMalformedBackup() *apiError {
	return &apiError{status: http.StatusBadRequest, code: "Malformed backup blob", message: "Backup blob is corrupt."}
}

func errPEMTransform() *apiError {
	return &apiError{status: http.StatusBadRequest, code: "BadParameter",
		message: "The 'Unsupported' to 'PEM' transformation is not supported. Only PFX to PEM transformation is supported."}
}

// errThrottled's body is from a real response quoted in vcsjones/AzureSignTool#219; the
// Retry-After header is ours.
func errThrottled(wait time.Duration) *apiError {
	return &apiError{status: http.StatusTooManyRequests, code: "Throttled", retryAfter: retryAfterSeconds(wait),
		message: "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached"}
}

// msgMissingToken is the 2026 wording; 2023–2025 recordings lack ", or MTLS_POP".
const msgMissingToken = "AKV10000: Request is missing a Bearer, PoP, or MTLS_POP token."

func errUnauthorized(message string) *apiError {
	return &apiError{status: http.StatusUnauthorized, code: "Unauthorized", message: message}
}

// badParameter is a 400 BadParameter. Only the invalid-name wording is on record (from an
// issue); the others are ours.
func badParameter(message string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "BadParameter", message: message}
}

func errInvalidName(name string) *apiError {
	return badParameter("The request URI contains an invalid name: " + name)
}

func errMissingAPIVersion() *apiError {
	return badParameter("The request is missing the required 'api-version' query parameter.")
}

func errNotImplemented(method, path string) *apiError {
	return &apiError{status: http.StatusNotFound, code: "NotFound",
		message: "This test server serves the secrets API only; " + method + " " + path + " is not implemented."}
}
