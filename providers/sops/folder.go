package sops

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/secretshift/secretshift/internal/outdir"
	"github.com/secretshift/secretshift/providers"
)

// ErrFolderInUse is returned by Write while another process holds the output folder's lock.
var ErrFolderInUse = outdir.ErrInUse

// OutputFolder returns the absolute folder the provider writes into.
func (p *Provider) OutputFolder() string {
	if dir, err := filepath.Abs(p.out); err == nil {
		return dir
	}
	return p.out
}

// acquire takes the output folder's lock once per provider (outdir.Lock), which also removes
// the temporary files an interrupted run left behind, and notes how many there were. It
// returns an error wrapping ErrFolderInUse when another run holds the lock.
func (p *Provider) acquire() error {
	n, err := p.folder.Acquire()
	if n > 0 {
		p.mu.Lock()
		p.notes = append(p.notes, fmt.Sprintf("removed %d temporary file(s) an interrupted run left in %s", n, p.out))
		p.mu.Unlock()
	}
	return err
}

// Close releases the output folder's lock. Writes after Close fail. The operating system
// releases the lock as well when the process ends, however it ends.
func (p *Provider) Close() error { return p.folder.Close() }

// Entries implements providers.Enumerator.
func (p *Provider) Entries(_ context.Context, prefix string) ([]providers.Target, error) {
	return outdir.Entries(p.out, Name, prefix)
}
