package vault

import (
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// ExternalStore implements providers.ExternalReader.
func (p *Provider) ExternalStore() providers.ExternalStore {
	server := p.addr
	if p.esoServer != "" {
		server = p.esoServer
	}
	return providers.ExternalStore{Kind: "vault", Server: server, Path: p.mount, Version: "v2", Namespace: p.namespace}
}

// ExternalRefs implements providers.ExternalReader: every key is a property of the one KV entry.
// ESO looks a property up as a plain key before trying gjson syntax, so keys with dots such as
// "tls.crt" or ".dockerconfigjson" resolve as themselves. Binary values were stored base64 and
// are decoded by ESO.
func (p *Provider) ExternalRefs(t providers.Target, s *kube.Secret) []providers.ExternalRef {
	rel := p.relPath(t)
	policyPath := p.mount + "/data/" + rel
	_, encoded := encoding(s.Data)
	refs := make([]providers.ExternalRef, 0, len(s.Data))
	for _, k := range s.Data.Keys() {
		r := providers.ExternalRef{SecretKey: k, Key: rel, Property: k, Paths: []string{policyPath}}
		if encoded(k) {
			r.Decoding = "Base64"
		}
		refs = append(refs, r)
	}
	return refs
}
