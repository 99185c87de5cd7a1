package sealed

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
)

// SetLogger makes the provider log each step at debug level (files sealed, the folder locked,
// the kustomization updated). Messages carry names, paths and key ids, never values.
func (p *Provider) SetLogger(l *slog.Logger) { p.logger.Store(l) }

func (p *Provider) debug(msg string, args ...any) {
	if l := p.logger.Load(); l != nil {
		l.Log(context.Background(), slog.LevelDebug, "sealed: "+msg, args...)
	}
}

func (p *Provider) note(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.notes = append(p.notes, msg)
}

// expiryWarning is how long before its expiry a certificate is mentioned.
const expiryWarning = 30 * 24 * time.Hour

// Notes says which certificate sealed the run's Secrets and what else the user should know.
func (p *Provider) Notes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := []string{fmt.Sprintf("sealed for the certificate sha256:%s from %s (key %s, expires %s)",
		p.cert.SHA256, p.cert.Source, short(p.cert.KeyID), p.cert.NotAfter.UTC().Format(time.DateOnly))}
	if left := p.cert.NotAfter.Sub(p.now()); left < expiryWarning {
		when := fmt.Sprintf("in %d day(s)", int(left.Hours()/24))
		if left < 24*time.Hour {
			when = fmt.Sprintf("in %s", left.Round(time.Minute))
		}
		out = append(out, fmt.Sprintf("the certificate expires %s: fetch the controller's current certificate (kubeseal --fetch-cert) before then", when))
	}
	return append(out, p.notes...)
}

// HintFor tells how to hand what was written to the controller.
func (p *Provider) HintFor(example string) string {
	if p.stream != nil {
		return ""
	}
	dir := p.OutputFolder()
	return fmt.Sprintf("commit %s, then apply it (kubectl apply --server-side -k %s, or let Argo CD / Flux do it): the controller unseals each SealedSecret into its Secret\n"+
		"a Secret that already exists in the cluster is taken over in place only when it carries %s=true (kubectl annotate secret -n NAMESPACE NAME %s=true); otherwise the controller leaves it and reports the SealedSecret as not synced",
		dir, dir, ssv1alpha1.SealedSecretManagedAnnotation, ssv1alpha1.SealedSecretManagedAnnotation)
}

// Pin records what a saved plan was made for: the controller's key and the scope.
func (p *Provider) Pin() map[string]string {
	return map[string]string{"key": p.cert.KeyID, "certificate": p.cert.SHA256, "scope": scopeName(p.scope),
		"expires": p.cert.NotAfter.UTC().Format(time.RFC3339)}
}

// UsePin refuses to apply a plan made for another controller key or scope: what was reviewed
// would not be what is written.
func (p *Provider) UsePin(pin map[string]string) error {
	if k := pin["key"]; k != "" && k != p.cert.KeyID {
		return fmt.Errorf("the plan was made for the controller key %s, and the certificate now is for %s (the controller renewed its key, or another certificate was given): plan again", short(k), short(p.cert.KeyID))
	}
	if s := pin["scope"]; s != "" && s != scopeName(p.scope) {
		return fmt.Errorf("the plan was made with --sealed-scope %s, not %s: pass the plan's scope, or plan again", s, scopeName(p.scope))
	}
	return nil
}
