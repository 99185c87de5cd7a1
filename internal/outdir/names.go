package outdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/secretshift/secretshift/providers"
)

// Ext is the extension of every manifest written into an output folder.
const Ext = ".yaml"

// maxFileName is the longest file name common filesystems accept (NAME_MAX on Linux, macOS,
// NTFS). A Secret name may be 253 characters, which with the extension does not fit.
const maxFileName = 255

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	secretKey    = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
)

// CheckNamespace reports why ns cannot be a folder name, or nil. Kubernetes namespaces are DNS
// labels, which also rules out path separators, "." and "..".
func CheckNamespace(ns string) error {
	switch {
	case ns == "":
		return fmt.Errorf("%w: no namespace (set one in the manifest)", providers.ErrInvalidName)
	case len(ns) > 63 || !dnsLabel.MatchString(ns):
		return fmt.Errorf("%w: namespace %q is not a DNS label", providers.ErrInvalidName, ns)
	}
	return nil
}

// CheckName reports why name cannot be a file name, or nil. Secret names are DNS subdomains:
// no separators, and no empty dot-separated parts, so never "." or "..".
func CheckName(name string) error {
	if err := checkObjectName(name); err != nil {
		return err
	}
	if len(name)+len(Ext) > maxFileName {
		return fmt.Errorf("%w: name %q is too long for a file name (%d characters, at most %d)",
			providers.ErrInvalidName, name, len(name), maxFileName-len(Ext))
	}
	return nil
}

// checkObjectName reports why name cannot name a Secret, or nil.
func checkObjectName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", providers.ErrInvalidName)
	case len(name) > 253 || !dnsSubdomain.MatchString(name):
		return fmt.Errorf("%w: name %q is not a DNS subdomain", providers.ErrInvalidName, name)
	}
	return nil
}

// CheckKey reports why k cannot be a key of a Secret's data, following the API server's rules
// (validation.IsConfigMapKey).
func CheckKey(k string) error {
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

// Address is the target address of namespace/name: the file path relative to the output
// folder, always with forward slashes so plans are the same on every OS.
func Address(ns, name string) string { return ns + "/" + name + Ext }

// ParseAddress splits and validates the address of a target of the provider called provider.
// It accepts only what Address produces, so a crafted plan or journal cannot point a write
// outside the output folder.
func ParseAddress(provider string, t providers.Target) (ns, name string, err error) {
	return parseAddress(provider, t, CheckName)
}

// ParseStreamAddress is ParseAddress for a store that writes a stream (StreamTarget).
func ParseStreamAddress(provider string, t providers.Target) (ns, name string, err error) {
	return parseAddress(provider, t, checkObjectName)
}

func parseAddress(provider string, t providers.Target, checkName func(string) error) (ns, name string, err error) {
	if t.Provider != "" && t.Provider != provider {
		return "", "", fmt.Errorf("%w: target %s does not belong to the %s provider", providers.ErrInvalidName, t, provider)
	}
	ns, file, ok := strings.Cut(t.Address, "/")
	if !ok || !strings.HasSuffix(file, Ext) {
		return "", "", fmt.Errorf("%w: address %q is not <namespace>/<name>%s", providers.ErrInvalidName, t.Address, Ext)
	}
	name = strings.TrimSuffix(file, Ext)
	if err := CheckNamespace(ns); err != nil {
		return "", "", fmt.Errorf("address %q: %w", t.Address, err)
	}
	if err := checkName(name); err != nil {
		return "", "", fmt.Errorf("address %q: %w", t.Address, err)
	}
	return ns, name, nil
}

// Path is where the file of a valid address lives below dir.
func Path(dir, ns, name string) string { return filepath.Join(dir, ns, name+Ext) }

// Target returns the target of ref in the folder store called provider: <namespace>/<name>.yaml.
func Target(provider string, ref providers.Ref) (providers.Target, error) {
	return target(provider, ref, CheckName)
}

// StreamTarget is Target for a store that writes a stream instead of files: the address is the
// same, and the name need only be a Secret's name (253 characters), not fit a file name.
func StreamTarget(provider string, ref providers.Ref) (providers.Target, error) {
	return target(provider, ref, checkObjectName)
}

func target(provider string, ref providers.Ref, checkName func(string) error) (providers.Target, error) {
	if err := CheckNamespace(ref.Namespace); err != nil {
		return providers.Target{}, fmt.Errorf("secret %s: %w", ref, err)
	}
	if err := checkName(ref.Name); err != nil {
		return providers.Target{}, fmt.Errorf("secret %s: %w", ref, err)
	}
	return providers.Target{Provider: provider, Address: Address(ref.Namespace, ref.Name)}, nil
}

// MaxSecretSize is the API server's limit on the total size of a Secret's values.
const MaxSecretSize = 1 << 20

// Check validates, without I/O, that pl can be a manifest at t in the folder store called
// provider: t is pl's file, every key is a valid Secret key, and the values fit a Secret. It
// returns every problem.
func Check(provider string, t providers.Target, pl providers.Payload) []error {
	return check(provider, t, pl, CheckName)
}

// CheckStream is Check for a store that writes a stream (StreamTarget).
func CheckStream(provider string, t providers.Target, pl providers.Payload) []error {
	return check(provider, t, pl, checkObjectName)
}

func check(provider string, t providers.Target, pl providers.Payload, checkName func(string) error) []error {
	var errs []error
	want, err := target(provider, pl.Ref, checkName)
	switch {
	case err != nil:
		errs = append(errs, err)
	case want.Address != t.Address:
		errs = append(errs, fmt.Errorf("secret %s: %w: target %s is not its file %s", pl.Ref, providers.ErrInvalidName, t, want.Address))
	}
	for _, k := range pl.Data.Keys() {
		if err := CheckKey(k); err != nil {
			errs = append(errs, fmt.Errorf("secret %s: %w", pl.Ref, err))
		}
	}
	if n := pl.Data.Size(); n > MaxSecretSize {
		errs = append(errs, fmt.Errorf("secret %s: %w: values total %d bytes, Kubernetes allows %d", pl.Ref, providers.ErrTooLarge, n, MaxSecretSize))
	}
	return errs
}

// Entries lists the manifests of the output folder dir of the store called provider whose
// address starts with prefix: every <namespace>/<name>.yaml, in address order. A missing folder
// holds none.
func Entries(dir, provider, prefix string) ([]providers.Target, error) {
	nss, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list output folder %s: %w", dir, IOErr(err))
	}
	var out []providers.Target
	for _, ns := range nss {
		if !ns.IsDir() || CheckNamespace(ns.Name()) != nil {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, ns.Name()))
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", filepath.Join(dir, ns.Name()), IOErr(err))
		}
		for _, f := range files {
			t := providers.Target{Provider: provider, Address: ns.Name() + "/" + f.Name()}
			if _, _, err := ParseAddress(provider, t); err == nil && f.Type().IsRegular() && strings.HasPrefix(t.Address, prefix) {
				out = append(out, t)
			}
		}
	}
	slices.SortFunc(out, func(a, b providers.Target) int { return strings.Compare(a.Address, b.Address) })
	return out, nil
}
