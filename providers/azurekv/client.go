package azurekv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/secretshift/secretshift/providers"
)

// secretsAPI is the part of *azsecrets.Client the adapter uses.
type secretsAPI interface {
	GetSecret(ctx context.Context, name, version string, o *azsecrets.GetSecretOptions) (azsecrets.GetSecretResponse, error)
	SetSecret(ctx context.Context, name string, p azsecrets.SetSecretParameters, o *azsecrets.SetSecretOptions) (azsecrets.SetSecretResponse, error)
	UpdateSecretProperties(ctx context.Context, name, version string, p azsecrets.UpdateSecretPropertiesParameters, o *azsecrets.UpdateSecretPropertiesOptions) (azsecrets.UpdateSecretPropertiesResponse, error)
	GetDeletedSecret(ctx context.Context, name string, o *azsecrets.GetDeletedSecretOptions) (azsecrets.GetDeletedSecretResponse, error)
	RecoverDeletedSecret(ctx context.Context, name string, o *azsecrets.RecoverDeletedSecretOptions) (azsecrets.RecoverDeletedSecretResponse, error)
	NewListSecretPropertiesPager(o *azsecrets.ListSecretPropertiesOptions) *runtime.Pager[azsecrets.ListSecretPropertiesResponse]
	NewListSecretPropertiesVersionsPager(name string, o *azsecrets.ListSecretPropertiesVersionsOptions) *runtime.Pager[azsecrets.ListSecretPropertiesVersionsResponse]
	NewListDeletedSecretPropertiesPager(o *azsecrets.ListDeletedSecretPropertiesOptions) *runtime.Pager[azsecrets.ListDeletedSecretPropertiesResponse]
}

var _ secretsAPI = (*azsecrets.Client)(nil)

// Inner error codes of Key Vault's 403 and 409 answers.
const (
	codeDeletedButRecoverable = "ObjectIsDeletedButRecoverable"
	codeBeingRecovered        = "ObjectIsBeingRecovered"
	codeBeingDeleted          = "ObjectIsBeingDeleted"
	codeSecretDisabled        = "SecretDisabled"
)

// responseError returns the service's answer behind err, if there is one.
func responseError(err error) (*azcore.ResponseError, bool) {
	var re *azcore.ResponseError
	ok := errors.As(err, &re)
	return re, ok
}

func statusOf(err error) int {
	if re, ok := responseError(err); ok {
		return re.StatusCode
	}
	return 0
}

// codes returns the error code and the inner error code of a Key Vault error body.
func codes(err error) (code, inner string) {
	re, ok := responseError(err)
	if !ok {
		return "", ""
	}
	code = re.ErrorCode
	if re.RawResponse == nil {
		return code, ""
	}
	body, perr := runtime.Payload(re.RawResponse)
	if perr != nil {
		return code, ""
	}
	var e struct {
		Error struct {
			Code  string `json:"code"`
			Inner *struct {
				Code string `json:"code"`
			} `json:"innererror"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil {
		if e.Error.Code != "" {
			code = e.Error.Code
		}
		if e.Error.Inner != nil {
			inner = e.Error.Inner.Code
		}
	}
	return code, inner
}

// serviceMessage is the service's own words for err: the status, the code and the message of
// its error body (Key Vault error bodies never hold values), or err's text for a transport
// error. It leaves out the request URL azcore's text repeats.
func serviceMessage(err error) string {
	re, ok := responseError(err)
	if !ok || re.RawResponse == nil {
		return err.Error()
	}
	msg := ""
	if body, perr := runtime.Payload(re.RawResponse); perr == nil {
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil {
			msg = e.Error.Message
		}
	}
	code, inner := codes(err)
	if inner != "" {
		code += "/" + inner
	}
	s := fmt.Sprintf("HTTP %d %s", re.StatusCode, code)
	if msg != "" {
		s += ": " + msg
	}
	return s
}

// classify wraps a Key Vault error with the matching sentinel and the service's message.
func classify(err error) error {
	if _, ok := responseError(err); !ok {
		return providers.Unreachable("key vault", err)
	}
	msg := serviceMessage(err)
	_, inner := codes(err)
	switch status := statusOf(err); {
	case status == http.StatusUnauthorized || status == http.StatusForbidden && inner != codeSecretDisabled:
		return fmt.Errorf("%w: %s", providers.ErrPermission, msg)
	case status == http.StatusNotFound:
		return fmt.Errorf("%w: %s", providers.ErrNotFound, msg)
	case status == http.StatusConflict:
		return fmt.Errorf("%w: %s", providers.ErrConflict, msg)
	case status == http.StatusBadRequest && strings.Contains(strings.ToLower(msg), "size"):
		return fmt.Errorf("%w: %s", providers.ErrTooLarge, msg)
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		return &throttledError{msg: msg}
	}
	return errors.New(msg)
}

// throttledError is a request the vault kept refusing with 429 or 503 after the retries.
type throttledError struct{ msg string }

func (e *throttledError) Error() string { return e.msg }

// Unwrap makes it providers.ErrBusy: every other write would be refused the same way, so the
// engine stops the run; running it again later finishes it.
func (e *throttledError) Unwrap() error { return providers.ErrBusy }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
