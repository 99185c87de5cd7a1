package sops

// configMode is the mode of .sops.yaml: it holds public recipients only, and is meant to be
// shared. Manifests and folders have outdir's modes.
const configMode = 0o644
