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

// AKV is a Key Vault test server (internal/testenv/akv) running in this process, and an
// azsecrets client of it that reads what secretshift wrote, as a user's would.
type AKV struct {
	// Server is the test server (its URL, certificate and request log).
	Server *akv.Server
	client *azsecrets.Client
}

// AzureFlags are the flags of every Key Vault run of the trials and the fault cases.
var AzureFlags = []string{"--azure-name", AzureName, "--azure-write-rate", "0"}

// startAKV starts a server without a write limit (the runs pass --azure-write-rate 0: the
// trials test crashes, not throttling) and returns it with the environment a secretshift
// process needs to sign in to it and trust its certificate (AZURE_KEYVAULT_URL names it).
func startAKV(dir string) (*AKV, []string, error) {
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
	return &AKV{Server: srv, client: c}, env, nil
}

// Close stops the server.
func (a *AKV) Close() { _ = a.Server.Close() }

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

// checkAzureKV checks a trial's store (AKV.Check).
func (w *workspace) checkAzureKV(t *Trial, targets map[string]string, problem func(string, ...any)) {
	f := w.akv.Check(w.secrets, targets)
	t.Lost, t.Duplicates, t.Mismatched = len(f.Lost)+len(f.Unread), len(f.Twice), len(f.Differ)
	f.Report(problem)
}

// Check reads every key of every Secret through the azsecrets SDK: the secret must exist,
// have exactly one version (a per-key target written twice, or a generation written again
// after a kill, has two), and hold the source's value byte for byte (base64 content decoded
// as its content type says). targets are the per-key addresses by Secret, from a run's
// report; a Secret without one is looked for at its default address under AzureName.
func (a *AKV) Check(secrets []*Secret, targets map[string]string) brief.Found {
	found := make([]akvFinding, len(secrets))
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				s := secrets[i]
				addr, ok := targets[s.Ref()]
				if !ok {
					addr = strings.ToLower(s.Name) + "--{key}"
				}
				found[i] = a.checkSecret(addr, s.Data)
			}
		}()
	}
	for i := range secrets {
		next <- i
	}
	close(next)
	wg.Wait()

	out := brief.Found{Store: "key vault"}
	for i, f := range found {
		ref := secrets[i].Ref()
		switch {
		case f.err != nil:
			out.Unread, out.ReadErr = append(out.Unread, ref), f.err
		case f.lost:
			out.Lost = append(out.Lost, ref)
		}
		if f.twice {
			out.Twice = append(out.Twice, ref)
		}
		if f.differ {
			out.Differ = append(out.Differ, ref)
		}
	}
	return out
}

// checkSecret reads the members of one per-key target.
func (a *AKV) checkSecret(address string, data map[string][]byte) akvFinding {
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
