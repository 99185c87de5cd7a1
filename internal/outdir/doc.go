// Package outdir is what the stores that write files share: an output folder of
// <namespace>/<name>.yaml manifests, checked writable before a run, locked while a run writes,
// cleaned of the temporary files an interrupted run left, and written atomically. The SOPS and
// Sealed Secrets adapters both write such folders.
package outdir
