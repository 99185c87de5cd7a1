// Package providers defines the contract between the migration engine and the stores Secrets
// move into (Vault, Azure Key Vault, SOPS files, Sealed Secrets). Each store is an adapter in
// its own folder; optional abilities are small extra interfaces checked with type assertions.
package providers

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/secretshift/secretshift/kube"
)

// Sentinel errors. Adapters wrap them with %w so callers can test with errors.Is.
var (
	// ErrNotFound: nothing is stored at the target.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the target changed since it was read (check-and-set failed), or holds
	// content secretshift did not write.
	ErrConflict = errors.New("conflict")
	// ErrInvalidName: the Secret's name or a key cannot be expressed at the target.
	ErrInvalidName = errors.New("invalid name")
	// ErrTooLarge: a value or the whole Secret exceeds the target's limits.
	ErrTooLarge = errors.New("too large")
	// ErrUnsupported: the target cannot hold this kind of Secret or is configured in a way
	// secretshift does not support (for example a KV v1 mount where versions are required).
	ErrUnsupported = errors.New("unsupported")
	// ErrPermission: the credentials are not allowed to perform the operation.
	ErrPermission = errors.New("permission denied")
	// ErrBusy: another run holds the store (a locked output folder). The engine stops the run
	// instead of failing item after item; running again later finishes it.
	ErrBusy = errors.New("in use by another run")
)

// Target is where one Secret is stored in a provider. It holds no values and is safe to print,
// save in plans and journals, and record in the audit log.
type Target struct {
	// Provider is the registry name of the adapter, e.g. "vault".
	Provider string `json:"provider"`
	// Address is the adapter-specific location: a KV path, a file path, a Key Vault name.
	Address string `json:"address"`
}

func (t Target) String() string { return t.Provider + ":" + t.Address }

// Ref names the Kubernetes Secret an entry stands for: the one it was migrated from, or the
// one ESO recreates from it. It holds no values.
type Ref struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// UID is the source Secret's UID, when known.
	UID string `json:"uid,omitempty"`
	// Cluster names the source cluster (kubeconfig server), "" for manifest input.
	Cluster string `json:"cluster,omitempty"`
}

// String is namespace/name.
func (r Ref) String() string { return r.Namespace + "/" + r.Name }

// Payload is what the engine asks a provider to store at one target. It names what is stored
// without needing a kube.Secret, so that a migration, a rotation and a cut-over all write
// through it.
type Payload struct {
	// Ref is the Secret the entry stands for.
	Ref Ref
	// Type is the Kubernetes Secret type ("" means Opaque).
	Type string
	// Data are the values to store.
	Data kube.Data
	// Labels and Annotations travel with the values into stores that hold whole Secret
	// manifests (SOPS files, SealedSecrets); key-value stores ignore them.
	Labels, Annotations map[string]string
	// Immutable marks a Secret whose data cannot change (kept by manifest stores).
	Immutable bool
	// Provenance is what the store should record about why this content is there, for stores
	// that keep metadata (e.g. "job": "migrate"). Keys are short lowercase words; values hold
	// no secret.
	Provenance map[string]string
	// Fingerprint is the keyed fingerprint of Type and Data (audit.Fingerprinter.Set).
	// Adapters may store it as metadata; it reveals nothing without the key.
	Fingerprint string
	// FingerprintKeyID names the key Fingerprint was made under (audit.Fingerprinter.KeyID).
	// Adapters store it with the fingerprint, so that a later run under the same key can tell
	// content changed in the store after secretshift wrote it.
	FingerprintKeyID string
	// RunID identifies the secretshift run that writes, for provenance metadata.
	RunID string
}

// EffectiveType is Type, or Opaque when it is empty (as the API server defaults it).
func (p Payload) EffectiveType() string {
	if p.Type == "" {
		return "Opaque"
	}
	return p.Type
}

// PayloadOf is the payload that stores s as it is: its identity, type, metadata and values.
func PayloadOf(s *kube.Secret) Payload {
	return Payload{
		Ref:  Ref{Namespace: s.Namespace, Name: s.Name, UID: s.UID, Cluster: s.Origin.Cluster},
		Type: s.EffectiveType(), Data: s.Data, Labels: s.Labels, Annotations: s.Annotations, Immutable: s.Immutable,
	}
}

// Stored is what a provider holds at a target.
type Stored struct {
	// Data is the stored values decoded back to the original bytes. It is nil when the adapter
	// can see that something is stored but cannot read the values (e.g. no decryption key);
	// Fingerprint then carries the keyed fingerprint recorded at write time.
	Data kube.Data
	// Type is the Kubernetes Secret type recorded with the values ("" if unknown).
	Type string
	// Fingerprint is the keyed fingerprint recorded as metadata at write time, if any.
	Fingerprint string
	// FingerprintKeyID names the key Fingerprint was made under, if recorded.
	FingerprintKeyID string
	// Version is the adapter's version of the stored object for check-and-set ("" if the
	// store is not versioned).
	Version string
	// Managed is true when secretshift wrote the current content.
	Managed bool
	// SourceUID is the source Secret's UID recorded at write time, if any.
	SourceUID string
	// RunID is the secretshift run that wrote the current content, if the store records it.
	RunID string
	// Problem, when set, says why the adapter cannot use what is stored (a SOPS file edited
	// after encryption, a file that is not SOPS at all). Data is nil then. The target is a
	// conflict unless the user asks to overwrite it; Version still names the state a
	// check-and-set write replaces.
	Problem string
	// Rewrite, when set, asks for the target to be written again although it holds the same
	// values, and says why (new recipients for a SOPS file under --sops-update-keys).
	Rewrite string
	// Ref is the Secret the stored content stands for, as the store recorded it (zero when it
	// did not). A rotation writes new values under the same Ref.
	Ref Ref
	// Labels, Annotations and Immutable are the Secret metadata a manifest store keeps with
	// the values (SOPS files, SealedSecret templates), so that a rotation writes them again;
	// nil for key-value stores.
	Labels, Annotations map[string]string
	Immutable           bool
	// Keys, when the store can tell the key names of an entry whose values it cannot read
	// (Data nil: a SealedSecret without the controller's key), lists them, so that a key
	// removed or added by hand is noticed without the values.
	Keys []string
	// Job is the secretshift job that wrote the current content, when the store records it
	// (JobRotate after a rotation; "" for a migration or when unknown). A migration does not
	// put a source Secret's older values over a rotated entry.
	Job string
	// Deleted is true when the store holds the entry but its current version is deleted
	// (Vault's soft delete): Data is empty, and nothing can be kept from it.
	Deleted bool
	// Updated is when the current content was written, as the store knows it (a version's
	// creation time, a file's last modification); zero when unknown. Due-only rotation
	// measures an entry's age from it.
	Updated time.Time
}

// Provider is one store Secrets can move into.
type Provider interface {
	// Name returns the registry name of the adapter.
	Name() string
	// StoreID returns the store's identity: a stable value that job ids and saved plans are
	// keyed by (Vault: address, namespace and mount; SOPS: the output folder's absolute path).
	// It is never display text: rewording Describe must not orphan a journal or a plan.
	StoreID() string
	// Target computes where the Secret ref is stored. It does no I/O. It returns an error
	// wrapping ErrInvalidName when ref cannot be addressed in this store.
	Target(ref Ref) (Target, error)
	// Check validates, without I/O, that p fits the store at t: key names, value sizes and
	// counts. Problems are returned together (errors.Join), each wrapping ErrInvalidName or
	// ErrTooLarge.
	Check(t Target, p Payload) error
	// Read returns what is stored at t, or an error wrapping ErrNotFound.
	Read(ctx context.Context, t Target) (*Stored, error)
	// Write stores p at t. expect is the Stored.Version this write replaces; "" means t must
	// not exist yet. When the stored version differs, Write returns an error wrapping
	// ErrConflict and changes nothing. It returns the new version ("" if unversioned).
	Write(ctx context.Context, t Target, p Payload, expect string) (version string, err error)
}

// Describer is implemented by providers that can say in words which store they write to, for
// plans, reports and audit records.
type Describer interface {
	Describe() string
}

// Hinter is implemented by providers that can tell the user how to use what was written, with
// example (the address of one written target) in the commands.
type Hinter interface {
	HintFor(example string) string
}

// AddressFolder is implemented by providers whose addresses compare case-insensitively or
// otherwise need normalising before two targets can be checked for a collision.
type AddressFolder interface {
	// FoldAddress returns the canonical form of an address.
	FoldAddress(address string) string
}

// Lister is implemented by providers that can tell which of many targets exist more cheaply
// than by reading each one (Vault: one LIST per folder instead of one read per Secret). The
// engine reads only the targets Existing reports; a plan made this way is as exact as one made
// by reading every target.
type Lister interface {
	// Existing returns the addresses among targets that hold something. It returns an error
	// wrapping ErrPermission or ErrUnsupported when listing is not possible (for example a
	// policy without list), and the engine falls back to reading each target.
	Existing(ctx context.Context, targets []Target) (map[string]bool, error)
}

// Enumerator is implemented by providers that can list the entries they hold, so that a
// rotation policy can name them by glob.
type Enumerator interface {
	// Entries returns the targets whose address starts with prefix ("" for all), in address
	// order. Only entries are returned, never folders.
	Entries(ctx context.Context, prefix string) ([]Target, error)
}

// Leaser is implemented by providers that can hold a short lease on a target in the store
// itself, so that runs on different machines never rotate the same entry at once. The lease
// ends when the target is next written, when it is released, or when ttl has passed.
type Leaser interface {
	// Lease takes the lease on t for holder. A lease held by a holder for which ours is true
	// (an earlier run of the same job, killed before it released it) is taken over. It
	// returns an error wrapping ErrBusy, naming the holder and until when, while another
	// holder has it.
	Lease(ctx context.Context, t Target, holder string, ttl time.Duration, ours func(holder string) bool) (release func(context.Context) error, err error)
}

// Versioned is implemented by providers that keep earlier versions of a target (what a
// rotation's rollback needs).
type Versioned interface {
	// Versions lists the stored versions of t, oldest first.
	Versions(ctx context.Context, t Target) ([]string, error)
	// ReadVersion returns what version of t holds, or an error wrapping ErrNotFound.
	ReadVersion(ctx context.Context, t Target, version string) (*Stored, error)
	// Rollback makes version the current content of t by writing it as a new version.
	Rollback(ctx context.Context, t Target, version string) (newVersion string, err error)
}

// Stager is implemented by providers that can hold a new value beside the current one until
// it is proven — what a staged rotation needs: readers keep getting the current value while
// the new one is set where it is used and tested, and the old one stays recoverable after.
type Stager interface {
	// Stage writes p as a pending version of t beside the current one, which stays what Read
	// (and every reader of the store) returns. expect is the current version, as for Write.
	Stage(ctx context.Context, t Target, p Payload, expect string) (pending string, err error)
	// Promote makes the pending version current. The previous version stays readable
	// (Versioned.ReadVersion). It returns the version that is now current.
	Promote(ctx context.Context, t Target, pending string) (version string, err error)
	// Discard drops a pending version that failed its test; the current one is untouched.
	Discard(ctx context.Context, t Target, pending string) error
}

// ExternalReader is implemented by providers that External Secrets Operator can read, so that
// an ExternalSecret can recreate a migrated Secret. The adapter owns everything store-specific
// in the generated manifests: each store's spec.provider block, who ESO authenticates as, and
// the access material (policies, role setup); the generator only assembles them.
type ExternalReader interface {
	// ExternalStores describes the ESO stores req asks for. It returns an error for an auth
	// method or setting the store does not support.
	ExternalStores(req StoreRequest) (*StoreSet, error)
	// ExternalRefs tells, for each key of p stored at t, how ESO fetches it back.
	ExternalRefs(t Target, p Payload) []ExternalRef
}

// StoreRequest is what the manifest generator asks an adapter for.
type StoreRequest struct {
	// Name is the name of every generated SecretStore / ClusterSecretStore.
	Name string
	// Cluster asks for one ClusterSecretStore serving every namespace of Refs, instead of one
	// SecretStore per namespace.
	Cluster bool
	// Auth is how ESO should authenticate.
	Auth ExternalAuth
	// Refs maps each namespace to the refs of the Secrets ESO recreates there: what the
	// least-privilege access material grants, and nothing more.
	Refs map[string][]ExternalRef
}

// ExternalAuth is how ESO authenticates to the store.
type ExternalAuth struct {
	// Method is the adapter's name for it; "" means the adapter's default.
	Method string
	// ServiceAccount is the ServiceAccount ESO authenticates as, for methods that use one.
	ServiceAccount string
	// ServiceAccountNamespace is that ServiceAccount's namespace for a ClusterSecretStore.
	ServiceAccountNamespace string
}

// StoreSet is an adapter's part of the ESO manifests.
type StoreSet struct {
	// Providers maps the namespace of each SecretStore ("" for the ClusterSecretStore) to
	// its spec.provider block (ESO's provider name → settings), marshalled as it is.
	Providers map[string]map[string]any
	// ServiceAccounts are the ServiceAccounts the stores authenticate as; the generator
	// creates them.
	ServiceAccounts []ServiceAccount
	// Files are access material for the store's administrators (policies, role setup
	// commands): a path relative to the manifests folder → content. *.sh files are made
	// executable.
	Files map[string][]byte
}

// ServiceAccount is a ServiceAccount a store authenticates as.
type ServiceAccount struct {
	Namespace, Name string
	// Annotations the store's identity federation needs (e.g. a workload identity client id).
	Annotations map[string]string
}

// ExternalRef is how ESO fetches one Secret key back.
type ExternalRef struct {
	// SecretKey is the key in the recreated Kubernetes Secret.
	SecretKey string
	// Key is the remote key (Vault path below the mount, Key Vault secret name).
	Key string
	// Property selects one field of the remote value ("" for the whole value).
	Property string
	// Decoding is ESO's decodingStrategy for the value: "" (None) or "Base64".
	Decoding string
	// Paths are the store paths a read policy must allow for this key, e.g. "secret/data/ns/a".
	Paths []string
}

// Pinned is implemented by providers whose settings a saved plan must carry, so that apply
// writes exactly what was reviewed (SOPS: the recipients, and the .sops.yaml they came from).
type Pinned interface {
	// Pin returns the settings to record in a plan. They hold no key material.
	Pin() map[string]string
	// UsePin makes the provider use the settings a plan recorded with Pin. It returns an error
	// when the store's own configuration changed since the plan was made (for example its
	// .sops.yaml was edited); nothing is written then.
	UsePin(pin map[string]string) error
}

// Providers that hold something until the command ends (the SOPS folder lock) implement
// io.Closer; commands close every provider they opened.

// FolderWriter is implemented by providers that write files into a local folder (SOPS,
// Sealed Secrets). Commands never read that folder as input of the same run.
type FolderWriter interface {
	// OutputFolder returns the folder the provider writes into.
	OutputFolder() string
}

// Noter is implemented by providers that have something to tell the user after a run (a key
// generated, a configuration file updated). Notes hold paths and public keys only.
type Noter interface {
	Notes() []string
}

// Logger is implemented by providers that can say what each step does (for -v and -vv).
// Messages name objects and steps, never values.
type Logger interface {
	SetLogger(l *slog.Logger)
}

// ActorIdentifier is implemented by providers whose store reports who our credentials belong
// to (Vault: the token's display name and accessor — never the token). The audit log records
// it as the actor's identity in that store.
type ActorIdentifier interface {
	// ActorIdentity returns attribute → value, with lowercase snake_case attribute names;
	// "display_name" is the one exports show as the user name.
	ActorIdentity() map[string]string
}

// Finisher is implemented by providers that keep something about all their targets together,
// brought up to date once at the end of a run that may write (the kustomization.yaml of a
// Sealed Secrets folder). The engine calls Finish after the last write of every run that is
// not a dry run, also when nothing was written, so that a run after an interrupted one
// completes it.
type Finisher interface {
	Finish(ctx context.Context) error
}

// StdoutWriter is implemented by providers that write to the command's standard output
// instead of a store. The command then prints its report on standard error.
type StdoutWriter interface {
	WritesStdout() bool
}

// ClusterObjecter is implemented by providers whose stored form is itself a Kubernetes object
// that a controller in the cluster turns into the Secret (a SealedSecret), so that a cut-over
// can apply it beside the live Secret and let that controller take the Secret over in place.
type ClusterObjecter interface {
	// ClusterObject returns the object stored at t, as it is applied to the cluster, or an
	// error wrapping ErrNotFound.
	ClusterObject(ctx context.Context, t Target) (map[string]any, error)
}
