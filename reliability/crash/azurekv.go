package crash

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/secretshift/secretshift/internal/testenv/akv"
	"github.com/secretshift/secretshift/reliability/internal/brief"
)

// AzureName is the --azure-name of the Key Vault trials: per key, without the namespace, so
// that the corpus's longest key (102 characters) stays within Key Vault's 127. Names are
// unique across a corpus's namespaces.
const AzureName = "{{.Name}}--{{.Key}}"

// akvStore is a Key Vault test server (internal/testenv/akv) running in this process, and an
// azsecrets client of it that reads what secretshift wrote, as a user's would.
type akvStore struct {
	srv    *akv.Server
	client *azsecrets.Client
}

// startAKV starts a server without a write limit (the runs pass --azure-write-rate 0: the
// trials test crashes, not throttling) and returns it with the environment a secretshift
// process needs to sign in to it and trust its certificate.
func startAKV(dir string) (*akvStore, []string, error) {
	srv, err := akv.New(akv.Options{})
	if err != nil {
		return nil, nil, err
	}
	if _, err := srv.Start("127.0.0.1:0"); err != nil {
		_ = srv.Close()
		return nil, nil, err
	}
	env, err := srv.Env(dir)
	if err != nil {
		_ = srv.Close()
		return nil, nil, err
	}
	c, err := srv.Client()
	if err != nil {
		_ = srv.Close()
		return nil, nil, err
	}
	return &akvStore{srv: srv, client: c}, env, nil
}

func (a *akvStore) close() { _ = a.srv.Close() }

// akvMember is the Key Vault name of key in the per-key target at address (shop--db--{key}):
// Key Vault's alphabet is [0-9a-z-] without case, every other character becomes '-'. Written
// here again, not taken from the provider, so that a wrong mapping there shows as lost
// Secrets.
func akvMember(address, key string) string {
	var b strings.Builder
	for _, r := range key {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + 'a' - 'A')
		default:
			b.WriteByte('-')
		}
	}
	return strings.ReplaceAll(strings.ToLower(address), "{key}", b.String())
}

// akvFinding is what a read of one Secret's members found.
type akvFinding struct {
	lost, twice, differ bool
	err                 error
}

// checkAzureKV reads every key of every Secret through the azsecrets SDK: the secret must
// exist, have exactly one version (a per-key target written twice, or a generation written
// again after the kill, has two), and hold the source's value byte for byte (base64 content
// decoded as its content type says).
func (w *workspace) checkAzureKV(t *Trial, targets map[string]string, problem func(string, ...any)) {
	found := make([]akvFinding, len(w.secrets))
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				s := w.secrets[i]
				addr, ok := targets[s.Ref()]
				if !ok {
					addr = strings.ToLower(s.Name) + "--{key}"
				}
				found[i] = w.akv.checkSecret(addr, s.Data)
			}
		}()
	}
	for i := range w.secrets {
		next <- i
	}
	close(next)
	wg.Wait()

	var lost, twice, differ, unread []string
	var lastErr error
	for i, f := range found {
		ref := w.secrets[i].Ref()
		switch {
		case f.err != nil:
			unread, lastErr = append(unread, ref), f.err
		case f.lost:
			lost = append(lost, ref)
		}
		if f.twice {
			twice = append(twice, ref)
		}
		if f.differ {
			differ = append(differ, ref)
		}
	}
	t.Lost, t.Duplicates, t.Mismatched = len(lost)+len(unread), len(twice), len(differ)
	if len(unread) > 0 {
		problem("%d Secrets could not be read from key vault (last error: %v): %s", len(unread), lastErr, brief.Names(unread))
	}
	if len(lost) > 0 {
		problem("%d Secrets lost (a key with no key vault secret): %s", len(lost), brief.Names(lost))
	}
	if len(twice) > 0 {
		problem("%d Secrets with a key vault secret of more than one version (written twice): %s", len(twice), brief.Names(twice))
	}
	if len(differ) > 0 {
		problem("%d Secrets differ from the source in key vault: %s", len(differ), brief.Names(differ))
	}
}

// checkSecret reads the members of one per-key target.
func (a *akvStore) checkSecret(address string, data map[string][]byte) akvFinding {
	ctx := context.Background()
	var f akvFinding
	for key, want := range data {
		name := akvMember(address, key)
		r, err := a.client.GetSecret(ctx, name, "", nil)
		var re *azcore.ResponseError
		switch {
		case errors.As(err, &re) && re.StatusCode == http.StatusNotFound:
			f.lost = true
			continue
		case err != nil:
			f.err = fmt.Errorf("read %s: %w", name, err)
			return f
		}
		got, err := akvValue(r.Value, r.ContentType)
		if err != nil || !bytes.Equal(got, want) {
			f.differ = true
		}
		n := 0
		pager := a.client.NewListSecretPropertiesVersionsPager(name, nil)
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				f.err = fmt.Errorf("list versions of %s: %w", name, err)
				return f
			}
			n += len(page.Value)
		}
		if n != 1 {
			f.twice = true
		}
	}
	return f
}

// akvValue is a secret's value as bytes: decoded when its content type says base64.
func akvValue(v, contentType *string) ([]byte, error) {
	if v == nil {
		return nil, errors.New("no value")
	}
	if contentType != nil {
		if _, params, err := mime.ParseMediaType(*contentType); err == nil && params["encoding"] == "base64" {
			return base64.StdEncoding.DecodeString(*v)
		}
	}
	return []byte(*v), nil
}
