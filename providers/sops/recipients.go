package sops

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/getsops/sops/v3"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/azkv"
	"github.com/getsops/sops/v3/hcvault"
	"github.com/getsops/sops/v3/keys"
	"github.com/getsops/sops/v3/pgp"

	"github.com/secretshift/secretshift/providers"
)

// recipients are the master keys every file is encrypted to. They hold no private material.
type recipients struct {
	age   []string
	pgp   []string
	vault []string // Vault Transit key URIs
	azure []azureKey
}

// azureKey is an Azure Key Vault key with its version resolved once, at Open, so that writes do
// not ask Key Vault for the latest version over and over.
type azureKey struct {
	url, vaultURL, name, version string
}

// id is the key with its version, the form sops records in a file.
func (a azureKey) id() string { return a.vaultURL + "/keys/" + a.name + "/" + a.version }

func (r recipients) empty() bool { return r.count() == 0 }

func (r recipients) count() int { return len(r.age) + len(r.pgp) + len(r.vault) + len(r.azure) }

// keyGroup returns fresh master keys for one file. Each file gets its own: sops keys carry the
// encrypted data key of the file they belong to.
func (r recipients) keyGroup() (sops.KeyGroup, error) {
	var g sops.KeyGroup
	for _, rc := range r.age {
		k, err := sopsage.MasterKeyFromRecipient(rc)
		if err != nil {
			return nil, fmt.Errorf("age recipient %q: %w", rc, err)
		}
		g = append(g, k)
	}
	for _, fp := range r.pgp {
		g = append(g, pgp.NewMasterKeyFromFingerprint(fp))
	}
	for _, u := range r.vault {
		k, err := hcvault.NewMasterKeyFromURI(u)
		if err != nil {
			return nil, fmt.Errorf("vault transit key %q: %w", u, err)
		}
		g = append(g, k)
	}
	for _, a := range r.azure {
		g = append(g, azkv.NewMasterKey(a.vaultURL, a.name, a.version))
	}
	return g, nil
}

// A recipient set in canonical form is a sorted list of "<kind>:<id>", kind being the
// .sops.yaml field name. Two sets are the same when these lists are equal, whatever the order
// or spelling (string or list, PGP letter case) they were given in.
const (
	kindAge   = fieldAge
	kindPGP   = fieldPGP
	kindVault = fieldVault
	kindAzure = fieldAzure
)

// canon returns r as a canonical set.
func (r recipients) canon() []string {
	var out []string
	for _, a := range r.age {
		out = append(out, kindAge+":"+a)
	}
	for _, f := range r.pgp {
		out = append(out, kindPGP+":"+strings.ToUpper(f))
	}
	for _, u := range r.vault {
		out = append(out, kindVault+":"+vaultID(u))
	}
	for _, a := range r.azure {
		out = append(out, kindAzure+":"+a.id())
	}
	return canonical(out)
}

// canonGroups returns the master keys of a file's metadata as a canonical set. Keys of a
// second or later key group are marked with their group, so that a file split into key groups
// never equals a single-group set.
func canonGroups(groups []sops.KeyGroup) []string {
	var out []string
	for i, g := range groups {
		prefix := ""
		if i > 0 {
			prefix = fmt.Sprintf("group %d/", i+1)
		}
		for _, k := range g {
			out = append(out, prefix+keyID(k))
		}
	}
	return canonical(out)
}

// keyID is the canonical "<kind>:<id>" of one master key.
func keyID(k keys.MasterKey) string {
	switch k := k.(type) {
	case *sopsage.MasterKey:
		return kindAge + ":" + k.Recipient
	case *pgp.MasterKey:
		return kindPGP + ":" + strings.ToUpper(k.Fingerprint)
	case *hcvault.MasterKey:
		return kindVault + ":" + k.ToString()
	case *azkv.MasterKey:
		return kindAzure + ":" + k.ToString()
	}
	return k.TypeToIdentifier() + ":" + k.ToString()
}

func vaultID(u string) string {
	if k, err := hcvault.NewMasterKeyFromURI(u); err == nil {
		return k.ToString()
	}
	return u
}

func canonical(ids []string) []string {
	slices.Sort(ids)
	return slices.Compact(ids)
}

// describeSet renders a canonical set for people: "age: age1..., age1...; pgp: FBC7...".
// Recipients are public keys and key URLs, safe to print.
func describeSet(ids []string) string {
	if len(ids) == 0 {
		return "no recipients"
	}
	var kinds []string
	byKind := map[string][]string{}
	for _, id := range ids {
		kind, v, _ := strings.Cut(id, ":")
		if _, ok := byKind[kind]; !ok {
			kinds = append(kinds, kind)
		}
		byKind[kind] = append(byKind[kind], v)
	}
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = k + ": " + strings.Join(byKind[k], ", ")
	}
	return strings.Join(parts, "; ")
}

// fromKeyGroups turns the key groups sops built for a creation rule into recipients this
// provider can encrypt to. Kinds it cannot encrypt to (AWS KMS, GCP KMS, HuaweiCloud KMS) and
// several key groups (Shamir secret sharing) are refused with an error wrapping
// ErrUnsupported: writing the files to fewer recipients than the rule names would silently
// change who can decrypt them.
func fromKeyGroups(groups []sops.KeyGroup) (recipients, error) {
	var r recipients
	switch {
	case len(groups) > 1:
		return r, fmt.Errorf("%w: it splits the data key into %d key groups (key_groups, Shamir); secretshift encrypts to one group", providers.ErrUnsupported, len(groups))
	case len(groups) == 0 || len(groups[0]) == 0:
		return r, fmt.Errorf("%w: it names no recipients", providers.ErrUnsupported)
	}
	var other []string
	for _, k := range groups[0] {
		switch k := k.(type) {
		case *sopsage.MasterKey:
			r.age = append(r.age, k.Recipient)
		case *pgp.MasterKey:
			r.pgp = append(r.pgp, k.Fingerprint)
		case *hcvault.MasterKey:
			r.vault = append(r.vault, k.ToString())
		case *azkv.MasterKey:
			r.azure = append(r.azure, azureKey{url: k.ToString(), vaultURL: k.VaultURL, name: k.Name, version: k.Version})
		default:
			other = append(other, k.TypeToIdentifier())
		}
	}
	if len(other) > 0 {
		other = canonical(other)
		return r, fmt.Errorf("%w: it names %s recipients, which secretshift cannot encrypt to (it encrypts to age, pgp, hc_vault_transit_uri and azure_keyvault)",
			providers.ErrUnsupported, strings.Join(other, ", "))
	}
	return r, nil
}

// parseRecipients validates recipients given by flags, the environment or a saved plan.
func parseRecipients(age, pgpFPs, vault, azure []string) (recipients, error) {
	var r recipients
	for _, a := range age {
		a = strings.TrimSpace(a)
		if _, err := sopsage.MasterKeyFromRecipient(a); err != nil {
			return r, fmt.Errorf("age recipient %q: %w", a, err)
		}
		r.age = append(r.age, a)
	}
	for _, fp := range pgpFPs {
		fp = strings.ReplaceAll(strings.TrimSpace(fp), " ", "")
		if !pgpFingerprint.MatchString(fp) {
			return r, fmt.Errorf("pgp fingerprint %q is not 16, 40 or 64 hex digits", fp)
		}
		r.pgp = append(r.pgp, fp)
	}
	for _, u := range vault {
		u = strings.TrimSpace(u)
		if _, err := hcvault.NewMasterKeyFromURI(u); err != nil || u == "" {
			return r, fmt.Errorf("vault transit key %q is not https://<vault>/v1/<engine>/keys/<name>", u)
		}
		r.vault = append(r.vault, u)
	}
	for _, u := range azure {
		k, err := resolveAzureKey(u)
		if err != nil {
			return r, err
		}
		r.azure = append(r.azure, k)
	}
	return r, nil
}

// errNoRecipient is returned by Open when nothing says whom to encrypt to.
var errNoRecipient = errors.New("sops: no recipient: pass --age-recipient (or set $" + EnvAgeRecipients +
	"), --sops-pgp, --sops-vault-transit or --sops-azure-kv, or --sops-age-key-file")
