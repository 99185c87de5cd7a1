package sealed

import (
	"context"
	"fmt"
	"log/slog"
	"time"
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
		out = append(out, fmt.Sprintf("the certificate expires in %d day(s): the controller renews its key on its own schedule; fetch its new certificate before then", int(left.Hours()/24)))
	}
	return append(out, p.notes...)
}

// HintFor tells how to hand what was written to the controller.
func (p *Provider) HintFor(example string) string {
	if p.stream != nil {
		return ""
	}
	return fmt.Sprintf("commit %s, then apply it (kubectl apply -k %s, or let Argo CD / Flux do it): the controller unseals each SealedSecret into its Secret\n"+
		"the Secrets the controller makes are owned by their SealedSecret; `secretshift cutover` hands existing Secrets over without a gap", p.OutputFolder(), p.OutputFolder())
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
