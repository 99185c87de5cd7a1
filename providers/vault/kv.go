package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/vault/api"
)

// The KV v2 reads and check-and-set writes of a migration go through vault/api's raw requests
// (its retries, Retry-After handling, token and TLS settings) and decode the response straight
// into the fields the adapter uses. vault/api's KVv2 decodes each response into maps and then
// through mapstructure, which took a sixth of a migration's client CPU. The results are the
// api.KVSecret values KVv2 returns, so that what is done with them is the same.

// kvBody is the body of a KV v2 response: a read's values and version metadata, or a write's
// version metadata, which a write returns as its data.
type kvBody struct {
	Data     *kvData  `json:"data"`
	Warnings []string `json:"warnings"`
}

type kvData struct {
	// Data are a read's values; null when the version is deleted.
	Data map[string]any `json:"data"`
	// Metadata is a read's version metadata.
	Metadata *kvVersion `json:"metadata"`
	// kvVersion is a write's version metadata.
	kvVersion
}

type kvVersion struct {
	CreatedTime    time.Time      `json:"created_time"`
	CustomMetadata map[string]any `json:"custom_metadata"`
	Version        int            `json:"version"`
}

// kvGet reads the latest version of the entry at rel (version 0) or the given one, as
// KVv2.Get and KVv2.GetVersion do: an entry whose version is deleted comes back with nil Data;
// an entry that does not exist is api.ErrSecretNotFound.
func (p *Provider) kvGet(ctx context.Context, rel string, version int) (*api.KVSecret, error) {
	ctx, cancel := p.requestTimeout(ctx)
	defer cancel()
	var query map[string][]string
	if version > 0 {
		query = map[string][]string{"version": {strconv.Itoa(version)}}
	}
	resp, err := p.client.Logical().ReadRawWithDataWithContext(ctx, p.mount+"/data/"+rel, query)
	if resp != nil {
		defer resp.Body.Close()
	}
	notFound := resp != nil && resp.StatusCode == http.StatusNotFound
	if err != nil && !notFound {
		return nil, err
	}
	body, err := decodeKV(resp.Body)
	switch {
	case notFound && (errors.Is(err, io.EOF) || (err == nil && body.Data == nil && len(body.Warnings) == 0)):
		// KV v2 answers 404 with the version metadata when the version is deleted.
		return nil, fmt.Errorf("%w: at %s/data/%s", api.ErrSecretNotFound, p.mount, rel)
	case err != nil:
		return nil, err
	}
	sec := &api.KVSecret{}
	if d := body.Data; d != nil {
		sec.Data = d.Data
		sec.VersionMetadata = &api.KVVersionMetadata{}
		if m := d.Metadata; m != nil {
			sec.VersionMetadata.Version, sec.VersionMetadata.CreatedTime = m.Version, m.CreatedTime
			sec.CustomMetadata = m.CustomMetadata
		}
	}
	return sec, nil
}

// kvPut writes data as a new version of the entry at rel with check-and-set cas, as KVv2.Put
// with api.WithCheckAndSet does, and returns the version written.
func (p *Provider) kvPut(ctx context.Context, rel string, data map[string]any, cas int) (int, error) {
	ctx, cancel := p.requestTimeout(ctx)
	defer cancel()
	req := struct {
		Data    map[string]any `json:"data"`
		Options struct {
			CAS int `json:"cas"`
		} `json:"options"`
	}{Data: data}
	req.Options.CAS = cas
	js, err := json.Marshal(req)
	if err != nil {
		return 0, fmt.Errorf("encode the values: %w", err)
	}
	// Logical().WriteRawWithContext cancels its context as it returns, before the body is
	// read, which closes the connection under every write (hashicorp/vault#31986, open);
	// RawRequestWithContext, which the read path uses, does not.
	r := p.client.NewRequest(http.MethodPut, "/v1/"+p.mount+"/data/"+rel)
	r.BodyBytes = js
	//lint:ignore SA1019 the one raw write of vault/api that leaves the body readable (hashicorp/vault#31986)
	resp, err := p.client.RawRequestWithContext(ctx, r)
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		return 0, err
	}
	body, err := decodeKV(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	if body.Data == nil || body.Data.Version == 0 {
		return 0, errors.New("no version in response")
	}
	return body.Data.Version, nil
}

// decodeKV decodes a KV v2 response body, numbers kept as written (json.Number), as vault/api
// decodes them. An empty body is io.EOF.
func decodeKV(r io.Reader) (kvBody, error) {
	var body kvBody
	dec := json.NewDecoder(r)
	dec.UseNumber()
	err := dec.Decode(&body)
	// What follows the JSON value (a newline) is read too, so that the connection is reused.
	_, _ = io.Copy(io.Discard, r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return body, err
		}
		// encoding/json quotes the offending character, which may be one of a value's.
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return body, fmt.Errorf("decode the response: invalid JSON at byte %d", se.Offset)
		}
		return body, fmt.Errorf("decode the response: %w", err)
	}
	return body, nil
}

// requestTimeout applies the client's timeout (VAULT_CLIENT_TIMEOUT) until the response is
// read. vault/api's raw requests add the same timeout without ever cancelling it; cancelling
// this parent once the body is read ends theirs too.
func (p *Provider) requestTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if t := p.client.ClientTimeout(); t > 0 {
		return context.WithTimeout(ctx, t)
	}
	return ctx, func() {}
}
