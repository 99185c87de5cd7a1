package sops

import "github.com/secretshift/secretshift/internal/outdir"

// filePath is where the file of a valid address lives on disk.
func (p *Provider) filePath(ns, name string) string { return outdir.Path(p.out, ns, name) }
