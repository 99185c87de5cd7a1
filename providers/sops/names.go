package sops

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/secretshift/secretshift/providers"
)

// fileExt is the extension of every file this provider writes; .sops.yaml rules match on it.
const fileExt = ".yaml"

// maxFileName is the longest file name common filesystems accept (NAME_MAX on Linux, macOS,
// NTFS). A Secret name may be 253 characters, which with the extension does not fit.
const maxFileName = 255

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	secretKey    = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
)

// checkNamespace reports why ns cannot be a folder name, or nil. Kubernetes namespaces are DNS
// labels, which also rules out path separators, "." and "..".
func checkNamespace(ns string) error {
	switch {
	case ns == "":
		return fmt.Errorf("%w: no namespace (set one in the manifest)", providers.ErrInvalidName)
	case len(ns) > 63 || !dnsLabel.MatchString(ns):
		return fmt.Errorf("%w: namespace %q is not a DNS label", providers.ErrInvalidName, ns)
	}
	return nil
}

// checkName reports why name cannot be a file name, or nil. Secret names are DNS subdomains:
// no separators, and no empty dot-separated parts, so never "." or "..".
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", providers.ErrInvalidName)
	case len(name) > 253 || !dnsSubdomain.MatchString(name):
		return fmt.Errorf("%w: name %q is not a DNS subdomain", providers.ErrInvalidName, name)
	case len(name)+len(fileExt) > maxFileName:
		return fmt.Errorf("%w: name %q is too long for a file name (%d characters, at most %d)",
			providers.ErrInvalidName, name, len(name), maxFileName-len(fileExt))
	}
	return nil
}

// checkKey reports why k cannot be a key of a Secret's data, following the API server's rules
// (validation.IsConfigMapKey).
func checkKey(k string) error {
	switch {
	case len(k) == 0 || len(k) > 253:
		return fmt.Errorf("%w: key %q must be 1 to 253 characters", providers.ErrInvalidName, k)
	case !secretKey.MatchString(k):
		return fmt.Errorf("%w: key %q may contain only letters, digits, '-', '_' and '.'", providers.ErrInvalidName, k)
	case k == "." || k == ".." || strings.HasPrefix(k, ".."):
		return fmt.Errorf("%w: key %q must not be '.' or start with '..'", providers.ErrInvalidName, k)
	}
	return nil
}

// address is the target address of namespace/name: the file path relative to the output
// folder, always with forward slashes so plans are the same on every OS.
func address(ns, name string) string { return ns + "/" + name + fileExt }

// parseAddress splits and validates a target address. It accepts only what address produces,
// so a crafted plan or journal cannot point a write outside the output folder.
func parseAddress(t providers.Target) (ns, name string, err error) {
	if t.Provider != "" && t.Provider != Name {
		return "", "", fmt.Errorf("%w: target %s does not belong to the %s provider", providers.ErrInvalidName, t, Name)
	}
	ns, file, ok := strings.Cut(t.Address, "/")
	if !ok || !strings.HasSuffix(file, fileExt) {
		return "", "", fmt.Errorf("%w: address %q is not <namespace>/<name>%s", providers.ErrInvalidName, t.Address, fileExt)
	}
	name = strings.TrimSuffix(file, fileExt)
	if err := checkNamespace(ns); err != nil {
		return "", "", fmt.Errorf("address %q: %w", t.Address, err)
	}
	if err := checkName(name); err != nil {
		return "", "", fmt.Errorf("address %q: %w", t.Address, err)
	}
	return ns, name, nil
}

// filePath is where the file of a valid address lives on disk.
func (p *Provider) filePath(ns, name string) string {
	return filepath.Join(p.out, ns, name+fileExt)
}
