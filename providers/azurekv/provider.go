package azurekv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/secretshift/secretshift/providers"
)

// Name is the registry name of this adapter.
const Name = "azurekv"

// Provider is the Azure Key Vault adapter.
type Provider struct {
	client   secretsAPI
	vaultURL string
	names    *namer
	// recover makes writes recover soft-deleted names instead of refusing them.
	recover bool
	// recoverWait bounds the wait for a recovery to become visible.
	recoverWait time.Duration
	eso         esoConfig
	throttle    *throttleCounter
	// identity is who the credential signs in as (ActorIdentity).
	identity map[string]string
	logger   atomic.Pointer[slog.Logger]

	// catMu serialises the one listing of the vault.
	catMu sync.Mutex
	// mu guards what follows.
	mu  sync.Mutex
	cat *catalog
	// claims maps each folded name a plan maps a source key to, to that key (Check).
	claims map[string]claim
	// expected maps a folded address to the names Check mapped to it, name → key.
	expected  map[string]map[string]string
	recovered []string
}

var (
	_ providers.Provider       = (*Provider)(nil)
	_ providers.Describer      = (*Provider)(nil)
	_ providers.AddressFolder  = (*Provider)(nil)
	_ providers.Lister         = (*Provider)(nil)
	_ providers.Enumerator     = (*Provider)(nil)
	_ providers.ExternalReader = (*Provider)(nil)
	_ providers.Pinned         = (*Provider)(nil)
	_ providers.Noter          = (*Provider)(nil)
	_ providers.Hinter         = (*Provider)(nil)
	_ providers.Logger         = (*Provider)(nil)
)

func newProvider(client secretsAPI, vaultURL string, names *namer) *Provider {
	return &Provider{client: client, vaultURL: vaultURL, names: names, recoverWait: 2 * time.Minute,
		throttle: &throttleCounter{}, claims: map[string]claim{}, expected: map[string]map[string]string{}}
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return Name }

// StoreID implements providers.Provider: the vault's URL. The layout and the name template
// are settings a plan pins (Pin), not the store.
func (p *Provider) StoreID() string { return "azurekv|" + p.vaultURL }

// Describe implements providers.Describer.
func (p *Provider) Describe() string {
	return fmt.Sprintf("azure key vault %s (%s layout, names %s)", p.vaultURL, p.names.layout, p.names.text)
}

// encode turns p into the secrets written at t, in name order. keepKeys and keepJSON are the
// keys that stay base64 because they are stored so now.
func (p *Provider) encode(t providers.Target, pl providers.Payload, keepKeys map[string]bool, keepJSON string) []member {
	if layoutOf(t.Address) == LayoutJSON {
		value, marker := encodeJSON(pl.Data, keepJSON)
		return []member{{name: memberName(t.Address, ""), value: value, contentType: ContentTypeJSON, base64Keys: marker}}
	}
	out := make([]member, 0, len(pl.Data))
	for _, k := range pl.Data.Keys() {
		value, ct := encodeKey(pl.Data[k], keepKeys[k])
		out = append(out, member{name: memberName(t.Address, k), key: k, value: value, contentType: ct})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// Check implements providers.Provider: names, collisions across the plan, value sizes after
// encoding, and the tags, all without I/O.
func (p *Provider) Check(t providers.Target, pl providers.Payload) error {
	if len(pl.Data) == 0 && layoutOf(t.Address) == LayoutPerKey {
		return fmt.Errorf("%s: %w: %w: the per-key layout stores one key vault secret per key, so nothing would be stored\nuse --azure-layout json, or leave the Secret out", pl.Ref, providers.ErrUnsupported, errNoKeys)
	}
	errs := p.claimNames(t, pl)
	members := p.encode(t, pl, nil, "")
	for _, m := range members {
		what := pl.Ref.String()
		if m.key != "" {
			what = fmt.Sprintf("%s key %q", pl.Ref, m.key)
		}
		if err := validName(m.name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
		if n := len(m.value); n > MaxValueBytes {
			how := ""
			if isBase64(m.contentType) || m.base64Keys != "" {
				how = " (binary values are stored base64, a third larger)"
			}
			errs = append(errs, fmt.Errorf("%s: %w: key vault secret %q would hold %d bytes%s, key vault allows %d (25 KB)", what, providers.ErrTooLarge, m.name, n, how, MaxValueBytes))
		}
		tags := tagsFor(t, pl, m, 1, len(members))
		if n := len(tags) + 1; n > MaxTags {
			errs = append(errs, fmt.Errorf("%s: %w: key vault secret %q would carry %d tags (%d of them provenance, and one kept free for a rotation's lease), key vault allows %d", what, providers.ErrTooLarge, m.name, n, len(pl.Provenance), MaxTags))
		}
		if src := tags[tagSource]; len(src) > maxTagValue {
			errs = append(errs, fmt.Errorf("%s: %w: namespace, name and key take %d characters, more than a key vault tag value holds (%d)", what, providers.ErrInvalidName, len(src), maxTagValue))
		}
	}
	for _, k := range sortedNames(pl.Provenance) {
		// Provenance must never overwrite what secretshift itself records.
		if !provenanceKey.MatchString(k) || ownTags[tagProvenance+k] {
			errs = append(errs, fmt.Errorf("%s: %w: provenance key %q is not a short lowercase word, or is one of secretshift's own tags", pl.Ref, providers.ErrInvalidName, k))
		}
	}
	return errors.Join(errs...)
}

// Read implements providers.Provider.
func (p *Provider) Read(ctx context.Context, t providers.Target) (*providers.Stored, error) {
	s, err := p.fetch(ctx, t, nil)
	if err != nil {
		return nil, err
	}
	expected := p.expectedNames(t.Address)
	var blocked []string
	for _, n := range s.deleted {
		if _, ok := expected[n]; ok {
			blocked = append(blocked, n)
		}
	}
	if len(blocked) > 0 && !p.recover {
		return nil, p.deletedConflict(t, blocked)
	}
	if len(s.members) == 0 {
		return nil, fmt.Errorf("read key vault %s: %w", t.Address, providers.ErrNotFound)
	}
	return s.stored(layoutOf(t.Address)), nil
}

// deletedConflict is the refusal of names held by soft delete, with the two ways out.
func (p *Provider) deletedConflict(t providers.Target, names []string) error {
	// One line: plans show it in a table row.
	return fmt.Errorf("key vault %s: %w: %s deleted but recoverable (soft delete holds a deleted name until it is purged, and key vault refuses to create a secret with it); "+
		"run again with --azure-recover to recover it and write a new version over it, or purge it yourself: az keyvault secret purge --vault-name %s --name %s",
		t.Address, providers.ErrConflict, quoteList(names, "is", "are"), p.vaultName(), names[0])
}

// quoteList names secrets as the subject of a sentence, with the verb for one or for many.
func quoteList(names []string, one, many string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	if len(q) == 1 {
		return "key vault secret " + q[0] + " " + one
	}
	return "key vault secrets " + strings.Join(q, ", ") + " " + many
}

// Write implements providers.Provider. It reads the target's secrets again, refuses when its
// version is not expect (see the package documentation), and writes every secret of p as one
// new generation — or, when the latest generation was interrupted while writing this very
// content, finishes it, leaving what it already wrote alone.
func (p *Provider) Write(ctx context.Context, t providers.Target, pl providers.Payload, expect string) (string, error) {
	names := p.payloadNames(t, pl.Data)
	s, err := p.fetch(ctx, t, names)
	if err != nil {
		return "", fmt.Errorf("write key vault %s: %w", t.Address, err)
	}
	var blocked []string
	for _, n := range s.deleted {
		if _, ok := names[n]; ok {
			blocked = append(blocked, n)
		}
	}
	if len(blocked) > 0 && !p.recover {
		return "", p.deletedConflict(t, blocked)
	}
	if v := s.version(); v != expect {
		if v == "0" || len(s.foreign()) > 0 && expect == "" {
			var taken []string
			for _, c := range s.foreign() {
				taken = append(taken, c.name)
			}
			return "", fmt.Errorf("write key vault %s: %w: %s content secretshift did not write\nplan again, and use --overwrite to replace it", t.Address, providers.ErrConflict, quoteList(taken, "holds", "hold"))
		}
		return "", fmt.Errorf("write key vault %s: %w: it is at version %q, not at %q as read before (another run or a person changed it)", t.Address, providers.ErrConflict, v, expect)
	}
	gen := s.head() + 1
	if hm := s.headMembers(); len(hm) > 0 && !s.complete() && pl.Fingerprint != "" && hm[0].tags[tagFingerprint] == pl.Fingerprint {
		gen = s.head() // finish the interrupted generation
	}
	keepKeys, keepJSON := s.keepBase64()
	members := p.encode(t, pl, keepKeys, keepJSON)
	var written []string
	for _, m := range members {
		if s.holds(m, gen, pl.Fingerprint) {
			p.debug("already written by an interrupted run", "name", m.name, "generation", gen)
			continue
		}
		if err := p.set(ctx, t, m, tagsFor(t, pl, m, gen, len(members)), s.isDeletedName(m.name)); err != nil {
			return "", p.partial(t, pl, len(members), written, m, err)
		}
		written = append(written, m.name)
	}
	p.debug("wrote", "target", t.Address, "generation", gen, "secrets", len(written), "of", len(members))
	return strconv.Itoa(gen), nil
}

// set writes one secret as a new version, recovering its name first when soft delete holds it
// (only with --azure-recover).
func (p *Provider) set(ctx context.Context, t providers.Target, m member, tags map[string]string, deleted bool) error {
	if deleted {
		if err := p.recoverName(ctx, m.name); err != nil {
			return err
		}
	}
	value, ct := m.value, m.contentType
	params := azsecrets.SetSecretParameters{Value: &value, ContentType: &ct, Tags: sdkTags(tags)}
	delay := 250 * time.Millisecond
	deadline := time.Now().Add(p.recoverWait)
	wctx := policy.WithRetryOptions(ctx, writeRetryOptions(p.retries()))
	for {
		_, err := p.client.SetSecret(wctx, m.name, params, nil)
		if err != nil && ambiguous(err) {
			switch ok, lerr := p.landed(ctx, m.name, value, tags); {
			case ok:
				// The write applied and its answer was lost: it is done, and sending it again
				// would add a second version.
				p.debug("write landed though its answer was lost", "name", m.name, "generation", tags[tagGeneration])
				err = nil
			case errors.Is(classify(lerr), providers.ErrBusy):
				// Not even the read-back reaches the vault: it is gone, not this write.
				return fmt.Errorf("write %s: %w", m.name, classify(lerr))
			}
		}
		if err == nil {
			p.mu.Lock()
			if p.cat != nil {
				p.cat.add(m.name, t.Address)
			}
			p.mu.Unlock()
			p.debug("set secret", "name", m.name, "generation", tags[tagGeneration])
			return nil
		}
		_, inner := codes(err)
		switch {
		case inner == codeDeletedButRecoverable && p.recover && !deleted:
			// Deleted since it was read.
			deleted = true
			if err := p.recoverName(ctx, m.name); err != nil {
				return err
			}
			continue
		case inner == codeDeletedButRecoverable:
			return p.deletedConflict(t, []string{m.name})
		case (inner == codeBeingRecovered || inner == codeBeingDeleted) && time.Now().Before(deadline):
			// The name is between states; key vault asks to retry later.
			if err := sleep(ctx, delay); err != nil {
				return err
			}
			delay = min(2*delay, 5*time.Second)
			continue
		}
		return classify(err)
	}
}

// ambiguous says whether a failed write may have applied: the request went out and no answer
// said it was refused (a cut or reset connection, a 500, 502 or 504).
func ambiguous(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if re, ok := responseError(err); ok {
		switch re.StatusCode {
		case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var op *net.OpError
	return !errors.As(err, &op) || op.Op != "dial"
}

// landed reads the latest version of name and says whether it is the write of value with
// tags (the same generation and fingerprint): a write whose answer was lost.
// The error is the read's, when it failed.
//
// It reads once, without retries: when the vault does not answer, the item fails and the next
// run, reading the target afresh, settles it; retrying here only held each item of a run
// whose vault stopped answering for the whole retry schedule.
func (p *Provider) landed(ctx context.Context, name, value string, tags map[string]string) (bool, error) {
	r, err := p.client.GetSecret(policy.WithRetryOptions(ctx, policy.RetryOptions{MaxRetries: -1}), name, "", nil)
	if err != nil {
		return false, err
	}
	if r.Value == nil || *r.Value != value {
		return false, nil
	}
	for _, k := range []string{tagGeneration, tagFingerprint} {
		if got := r.Tags[k]; got == nil || *got != tags[k] {
			return false, nil
		}
	}
	return true, nil
}

// retries is --azure-max-retries as azcore takes it (below zero: none).
func (p *Provider) retries() int {
	if p.throttle == nil || p.throttle.maxRetries <= 0 {
		return -1
	}
	return p.throttle.maxRetries
}

// recoverName recovers a soft-deleted name and waits until the recovery is visible: right
// after it, key vault still answers 404 for the name for a while.
func (p *Provider) recoverName(ctx context.Context, name string) error {
	if _, err := p.client.RecoverDeletedSecret(ctx, name, nil); err != nil {
		if _, inner := codes(err); inner != codeBeingRecovered {
			return fmt.Errorf("recover soft-deleted key vault secret %q: %w", name, classify(err))
		}
	}
	delay := 100 * time.Millisecond
	deadline := time.Now().Add(p.recoverWait)
	for {
		_, err := p.client.GetSecret(ctx, name, "", nil)
		_, inner := codes(err)
		if err == nil || inner == codeSecretDisabled {
			break
		}
		if statusOf(err) != 404 {
			return fmt.Errorf("read recovered key vault secret %q: %w", name, classify(err))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("key vault secret %q was recovered, but still answers 404 after %s\nrun again later: the recovery completes on key vault's side", name, p.recoverWait)
		}
		if err := sleep(ctx, delay); err != nil {
			return err
		}
		delay = min(2*delay, 2*time.Second)
	}
	p.mu.Lock()
	p.recovered = append(p.recovered, name)
	p.mu.Unlock()
	p.debug("recovered soft-deleted secret", "name", name)
	return nil
}

// partial is the error of a write that failed on secret failed, saying what was written first.
func (p *Provider) partial(t providers.Target, pl providers.Payload, total int, written []string, failed member, cause error) error {
	what := fmt.Sprintf("write key vault secret %q for %s", failed.name, pl.Ref)
	if failed.key != "" {
		what += fmt.Sprintf(" key %q", failed.key)
	}
	done := fmt.Sprintf("nothing else of %s was written by this attempt", t.Address)
	if len(written) > 0 {
		done = fmt.Sprintf("%d of the %d secrets of %s were written before it: %s", len(written), total, t.Address, strings.Join(written, ", "))
	}
	var te *throttledError
	if errors.As(cause, &te) {
		return fmt.Errorf("%s: %w\nthe vault kept throttling it after %d retries that waited as its Retry-After asked; %s\nrun the same command again to finish (what is written is not written twice), or lower --azure-write-rate",
			what, cause, p.throttle.maxRetries, done)
	}
	return fmt.Errorf("%s: %w\n%s", what, cause, done)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
