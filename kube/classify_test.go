package kube

import (
	"slices"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	data := Data{"k": []byte("v")}
	tests := []struct {
		name    string
		secret  Secret
		include []Reason
		want    Reason // "" means migrate
		message string // part of the message
	}{
		{"plain Opaque", Secret{Namespace: "app", Name: "db", Data: data}, nil, "", "no controller"},
		{"service-account token", Secret{Namespace: "app", Name: "t", Type: TypeServiceAccountToken, Data: data,
			Annotations: map[string]string{"kubernetes.io/service-account.name": "builder"}}, nil, ReasonServiceAccountToken, "ServiceAccount builder"},
		{"bootstrap token", Secret{Namespace: "kube-system", Name: "bootstrap-token-abcdef", Type: TypeBootstrapToken, Data: data}, nil, ReasonBootstrapToken, "join nodes"},
		{"helm release by type", Secret{Namespace: "app", Name: "sh.helm.release.v1.web.v3", Type: TypeHelmRelease, Data: data}, nil, ReasonHelmRelease, "Helm"},
		{"helm release by label and name", Secret{Namespace: "app", Name: "sh.helm.release.v1.web.v4", Labels: map[string]string{"owner": "helm"}, Data: data}, nil, ReasonHelmRelease, "Helm"},
		{"owner=helm label alone is not a release", Secret{Namespace: "app", Name: "web-config", Labels: map[string]string{"owner": "helm"}, Data: data}, nil, "", ""},
		{"sealed secret owner", Secret{Namespace: "app", Name: "s", Data: data,
			Owners: []Owner{{APIVersion: "bitnami.com/v1alpha1", Kind: "SealedSecret", Name: "s", Controller: true}}}, nil, ReasonSealedSecret, "SealedSecret s"},
		{"external secrets label", Secret{Namespace: "app", Name: "e", Data: data,
			Labels: map[string]string{"reconcile.external-secrets.io/managed": "true"}}, nil, ReasonExternalSecrets, "External Secrets"},
		{"external secret owner", Secret{Namespace: "app", Name: "e", Data: data,
			Owners: []Owner{{APIVersion: "external-secrets.io/v1", Kind: "ExternalSecret", Name: "e-src", Controller: true}}}, nil, ReasonExternalSecrets, "ExternalSecret e-src"},
		{"cert-manager annotation", Secret{Namespace: "app", Name: "tls", Type: "kubernetes.io/tls", Data: data,
			Annotations: map[string]string{"cert-manager.io/certificate-name": "web"}}, nil, ReasonCertManager, "cert-manager"},
		{"owned by a controller, named", Secret{Namespace: "app", Name: "o", Data: data,
			Owners: []Owner{{Kind: "ConfigMap", Name: "first"}, {APIVersion: "example.com/v1", Kind: "Database", Name: "pg", Controller: true}}}, nil, ReasonOwned, "Database/pg"},
		{"system namespace", Secret{Namespace: "kube-system", Name: "x", Data: data}, nil, ReasonSystemNamespace, "kube-system"},
		{"kube-node-lease", Secret{Namespace: "kube-node-lease", Name: "x", Data: data}, nil, ReasonSystemNamespace, ""},
		{"empty", Secret{Namespace: "app", Name: "e"}, nil, ReasonEmpty, "no keys"},
		{"included reason migrates", Secret{Namespace: "app", Name: "e"}, []Reason{ReasonEmpty}, "", ""},
		{"included reason falls through to the next", Secret{Namespace: "kube-system", Name: "t", Type: TypeServiceAccountToken, Data: data},
			[]Reason{ReasonServiceAccountToken}, ReasonSystemNamespace, ""},
		{"all included", Secret{Namespace: "kube-system", Name: "t", Type: TypeServiceAccountToken},
			Reasons(), "", ""},
		{"SOPS-encrypted, whatever is included", Secret{Namespace: "app", Name: "s", Encrypted: &Encrypted{By: EncryptedBySOPS, Keys: []string{"k"}}},
			append(Reasons(), EncryptedReasons()...), ReasonSOPSEncrypted, "sops --decrypt"},
		{"SealedSecret, whatever is included", Secret{Namespace: "kube-system", Name: "s", Encrypted: &Encrypted{By: EncryptedBySealedSecrets, Keys: []string{"k"}},
			Owners: []Owner{{Kind: "Application", Name: "a"}}}, append(Reasons(), EncryptedReasons()...), ReasonSealedManifest, "sealed-secrets controller"},
		{"encrypted is checked before every other reason", Secret{Namespace: "kube-system", Name: "s", Type: TypeServiceAccountToken,
			Encrypted: &Encrypted{By: EncryptedBySOPS, Keys: []string{}}}, nil, ReasonSOPSEncrypted, "SOPS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Classify(&tt.secret, ClassifyOptions{Include: tt.include})
			wantAction := ActionSkip
			if tt.want == "" {
				wantAction = ActionMigrate
			}
			if d.Action != wantAction || d.Reason != tt.want {
				t.Errorf("got %s/%s, want %s/%s (%s)", d.Action, d.Reason, wantAction, tt.want, d.Message)
			}
			if !strings.Contains(d.Message, tt.message) || d.Message == "" {
				t.Errorf("message %q does not contain %q", d.Message, tt.message)
			}
		})
	}
}

func TestParseReason(t *testing.T) {
	for _, r := range Reasons() {
		if got, err := ParseReason(string(r)); err != nil || got != r {
			t.Errorf("ParseReason(%q) = %q, %v", r, got, err)
		}
	}
	if got, err := ParseReason("system-namespaces"); err != nil || got != ReasonSystemNamespace {
		t.Errorf("alias system-namespaces = %q, %v", got, err)
	}
	if _, err := ParseReason("bogus"); err == nil || !strings.Contains(err.Error(), "service-account-token") {
		t.Errorf("unknown reason error should list the valid names: %v", err)
	}
	for _, r := range EncryptedReasons() {
		if slices.Contains(Reasons(), r) {
			t.Errorf("%s is in Reasons(), which --include may name", r)
		}
		if _, err := ParseReason(string(r)); err == nil || !strings.Contains(err.Error(), "cannot be included") {
			t.Errorf("ParseReason(%q) = %v, want it refused", r, err)
		}
	}
}
