package azurekv

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// SetLogger implements providers.Logger: each step at debug level (secrets written, names
// recovered, the vault listed). Messages carry names and generations, never values.
func (p *Provider) SetLogger(l *slog.Logger) { p.logger.Store(l) }

func (p *Provider) debug(msg string, args ...any) {
	if l := p.logger.Load(); l != nil {
		l.Log(context.Background(), slog.LevelDebug, "azurekv: "+msg, args...)
	}
}

// Notes implements providers.Noter: names recovered from soft delete, and how much the vault
// throttled.
func (p *Provider) Notes() []string {
	p.mu.Lock()
	recovered := append([]string(nil), p.recovered...)
	p.mu.Unlock()
	var out []string
	if len(recovered) > 0 {
		out = append(out, fmt.Sprintf("recovered %d soft-deleted key vault secret(s) before writing a new version: %s", len(recovered), strings.Join(recovered, ", ")))
	}
	if n := p.throttle.throttled.Load(); n > 0 {
		out = append(out, fmt.Sprintf("the vault throttled %d request(s) (HTTP 429 or 503); each was retried after the Retry-After it asked for", n))
	}
	if d := p.throttle.delayed.Load(); d > 0 {
		out = append(out, fmt.Sprintf("the client-side write limit of %s (--azure-write-rate) held back %d of %d write request(s)", p.throttle.rate, d, p.throttle.writes.Load()))
	}
	return out
}

// HintFor implements providers.Hinter: how to look at what was written, and how ESO reads it.
func (p *Provider) HintFor(example string) string {
	name := strings.ReplaceAll(example, keyPlaceholder, "KEY")
	return fmt.Sprintf("see a written secret with: az keyvault secret show --vault-name %s --name %s\n"+
		"External Secrets Operator reads them with an azurekv store: add --manifests DIR (with --azure-eso-client-id for workload identity) to generate the stores, ExternalSecrets and role assignments",
		p.vaultName(), name)
}

// Pin implements providers.Pinned: the layout, the name template and whether soft-deleted names
// are recovered decide what apply writes, so a saved plan carries them.
func (p *Provider) Pin() map[string]string {
	return map[string]string{"layout": p.names.layout, "name": p.names.text, "recover": strconv.FormatBool(p.recover)}
}

// UsePin implements providers.Pinned: apply writes with the settings the plan was made with.
func (p *Provider) UsePin(pin map[string]string) error {
	layout, text := pin["layout"], pin["name"]
	if layout == "" {
		layout = p.names.layout
	}
	if text == "" {
		text = p.names.text
	}
	n, err := newNamer(layout, text)
	if err != nil {
		return fmt.Errorf("the plan's key vault settings: %w: make a new plan", err)
	}
	p.names = n
	if r, err := strconv.ParseBool(pin["recover"]); err == nil {
		p.recover = r
	}
	return nil
}
