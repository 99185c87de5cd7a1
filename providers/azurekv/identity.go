package azurekv

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/secretshift/secretshift/providers"
)

var _ providers.ActorIdentifier = (*Provider)(nil)

// vaultScope is the scope of Key Vault's data plane tokens.
const vaultScope = "https://vault.azure.net/.default"

// ActorIdentity implements providers.ActorIdentifier: who the credential signs in as, from the
// claims of its Key Vault token (never the token): the user principal name or the application
// id as display name, the object id, the application id and the tenant. Empty when the token
// is not a JWT.
func (p *Provider) ActorIdentity() map[string]string { return p.identity }

// identityOf reads the claims of the credential's Key Vault token, which the client has just
// fetched (the credential caches it). A credential that cannot give one leaves it unknown.
func identityOf(ctx context.Context, cred azcore.TokenCredential) map[string]string {
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{vaultScope}})
	if err != nil {
		return nil
	}
	return claimsOf(tok.Token)
}

// claimsOf decodes the identity claims of a JWT access token, without checking its signature:
// it is only a record of who the tool ran as, and the vault checked the token.
func claimsOf(token string) map[string]string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil
	}
	var c struct {
		OID        string `json:"oid"`
		AppID      string `json:"appid"`
		AZP        string `json:"azp"`
		UPN        string `json:"upn"`
		UniqueName string `json:"unique_name"`
		Name       string `json:"name"`
		TID        string `json:"tid"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return nil
	}
	app := c.AppID
	if app == "" {
		app = c.AZP
	}
	display := c.UPN
	for _, v := range []string{c.UniqueName, c.Name, app} {
		if display == "" {
			display = v
		}
	}
	return map[string]string{"display_name": display, "object_id": c.OID, "app_id": app, "tenant_id": c.TID}
}
