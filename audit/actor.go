package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/user"
	"slices"
	"strings"
)

// Actor is who ran the command: local identities, the identity each secret store knows the run
// by, and, in CI, the pipeline that ran it. It never holds a credential.
type Actor struct {
	OSUser   string `json:"os_user,omitempty"`
	Host     string `json:"host,omitempty"`
	KubeUser string `json:"kube_user,omitempty"`
	// Stores maps a store kind, the provider name targets carry ("vault", "azurekv"), to the
	// identity that store knows this run by. Set it with SetStore.
	Stores map[string]StoreIdentity `json:"stores,omitempty"`
	CI     *CI                      `json:"ci,omitempty"`
}

// StoreIdentity is who a secret store knows the actor as, attribute name → value: for Vault
// {"display_name", "accessor"}, for Azure {"object_id", "tenant_id"}, for a store that
// authenticates with Kubernetes {"username"}. Names are lowercase snake_case. Values identify and
// never authenticate: a token's accessor, never the token. Exports show the attribute
// "display_name", where a store has one, as the user name.
type StoreIdentity map[string]string

// StoreDisplayName is the StoreIdentity attribute holding a human-readable name.
const StoreDisplayName = "display_name"

// Record format 1 wrote the Vault identity as the actor members vault_display_name and
// vault_accessor; it reads as Stores["vault"] {"display_name", "accessor"}, the names the
// Vault identity has in format 2.
const (
	format1VaultStore    = "vault"
	format1VaultAccessor = "accessor"
)

// SetStore records id as the identity the store of the given kind knows the actor by. Empty
// values are left out; an identity with no value left removes the store's entry.
func (a *Actor) SetStore(kind string, id StoreIdentity) {
	clean := make(StoreIdentity, len(id))
	for k, v := range id {
		if v != "" {
			clean[k] = v
		}
	}
	if len(clean) == 0 {
		delete(a.Stores, kind)
		return
	}
	if a.Stores == nil {
		a.Stores = map[string]StoreIdentity{}
	}
	a.Stores[kind] = clean
}

// IsZero reports whether no field of a is set.
func (a Actor) IsZero() bool {
	return a.OSUser == "" && a.Host == "" && a.KubeUser == "" && len(a.Stores) == 0 && a.CI == nil
}

// cloneStores returns a deep copy of m.
func cloneStores(m map[string]StoreIdentity) map[string]StoreIdentity {
	if m == nil {
		return nil
	}
	out := make(map[string]StoreIdentity, len(m))
	for k, id := range m {
		out[k] = maps.Clone(id)
	}
	return out
}

// storeDisplayName returns the display name of the first store identity (by kind) that has one.
func (a *Actor) storeDisplayName() string {
	for _, kind := range slices.Sorted(maps.Keys(a.Stores)) {
		if n := a.Stores[kind][StoreDisplayName]; n != "" {
			return n
		}
	}
	return ""
}

// UnmarshalJSON reads an actor of any record format: format 1 named the Vault identity in the
// members vault_display_name and vault_accessor, which become Stores["vault"].
func (a *Actor) UnmarshalJSON(b []byte) error {
	type actorFields Actor
	w := struct {
		*actorFields
		VaultDisplayName string `json:"vault_display_name"`
		VaultAccessor    string `json:"vault_accessor"`
	}{actorFields: (*actorFields)(a)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if _, ok := a.Stores[format1VaultStore]; !ok {
		a.SetStore(format1VaultStore, StoreIdentity{StoreDisplayName: w.VaultDisplayName, format1VaultAccessor: w.VaultAccessor})
	}
	return nil
}

// Limits of Actor.Stores.
const (
	maxStores         = 16
	maxStoreAttrs     = 16
	maxIdentifierName = 64
)

// validate checks the store identities, which callers fill in: names must be lowercase
// identifiers and values value-free text. Errors never quote a value.
func (a *Actor) validate() error {
	if len(a.Stores) > maxStores {
		return fmt.Errorf("%d store identities is more than %d", len(a.Stores), maxStores)
	}
	for kind, id := range a.Stores {
		if !validIdentifier(kind, "-") {
			// Invalid names are not quoted: a value might have been put there by mistake.
			return errors.New("a store kind must be a lowercase name like vault or azurekv")
		}
		if len(id) == 0 || len(id) > maxStoreAttrs {
			return fmt.Errorf("store %s: an identity has 1 to %d attributes, not %d", kind, maxStoreAttrs, len(id))
		}
		for name, v := range id {
			if !validIdentifier(name, "") {
				return fmt.Errorf("store %s: an attribute name must be lowercase snake_case like display_name", kind)
			}
			if v == "" {
				return fmt.Errorf("store %s: attribute %s is empty", kind, name)
			}
			if err := checkText(v, maxNameLen); err != nil {
				return fmt.Errorf("store %s: attribute %s %w", kind, name, err)
			}
		}
	}
	return nil
}

// validIdentifier reports whether s is a lowercase letter followed by lowercase letters, digits,
// underscores or any of extra, at most maxIdentifierName bytes.
func validIdentifier(s, extra string) bool {
	if s == "" || len(s) > maxIdentifierName || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && !strings.ContainsRune(extra, rune(c)) {
			return false
		}
	}
	return true
}

// CI identifies a CI job: provider (github-actions, gitlab-ci, azure-pipelines, jenkins, ci), the
// user who triggered it, the repository or project, and the run and job ids.
type CI struct {
	Provider   string `json:"provider"`
	Actor      string `json:"actor,omitempty"`
	Repository string `json:"repository,omitempty"`
	RunID      string `json:"run_id,omitempty"`
	JobID      string `json:"job_id,omitempty"`
	URL        string `json:"url,omitempty"`
}

// CurrentActor returns the local user and host and, when running in CI, the pipeline identity
// read from the process environment. Kubernetes and store identities are added by callers that
// know them.
func CurrentActor() Actor {
	a := ActorFromEnv(os.Getenv)
	if u, err := user.Current(); err == nil && u.Username != "" {
		a.OSUser = u.Username
	}
	if h, err := os.Hostname(); err == nil {
		a.Host = h
	}
	return a
}

// ActorFromEnv reads the OS user ($USER / $USERNAME) and the CI identity from getenv. Only
// identity variables are read; job tokens (GITHUB_TOKEN, CI_JOB_TOKEN…) are never touched.
func ActorFromEnv(getenv func(string) string) Actor {
	a := Actor{OSUser: firstSet(getenv, "USER", "USERNAME")}
	a.CI = ciFromEnv(getenv)
	return a
}

func ciFromEnv(getenv func(string) string) *CI {
	switch {
	case getenv("GITHUB_ACTIONS") == "true":
		c := &CI{
			Provider:   "github-actions",
			Actor:      getenv("GITHUB_ACTOR"),
			Repository: getenv("GITHUB_REPOSITORY"),
			RunID:      getenv("GITHUB_RUN_ID"),
			JobID:      getenv("GITHUB_JOB"),
		}
		if n := getenv("GITHUB_RUN_ATTEMPT"); n != "" && c.RunID != "" {
			c.RunID += "/" + n
		}
		if s, r, id := getenv("GITHUB_SERVER_URL"), c.Repository, getenv("GITHUB_RUN_ID"); s != "" && r != "" && id != "" {
			c.URL = strings.TrimSuffix(s, "/") + "/" + r + "/actions/runs/" + id
		}
		return c
	case getenv("GITLAB_CI") == "true":
		return &CI{
			Provider:   "gitlab-ci",
			Actor:      getenv("GITLAB_USER_LOGIN"),
			Repository: getenv("CI_PROJECT_PATH"),
			RunID:      getenv("CI_PIPELINE_ID"),
			JobID:      getenv("CI_JOB_ID"),
			URL:        getenv("CI_JOB_URL"),
		}
	case strings.EqualFold(getenv("TF_BUILD"), "true"):
		return &CI{
			Provider:   "azure-pipelines",
			Actor:      getenv("BUILD_REQUESTEDFOR"),
			Repository: getenv("BUILD_REPOSITORY_NAME"),
			RunID:      getenv("BUILD_BUILDID"),
			JobID:      getenv("SYSTEM_JOBID"),
		}
	case getenv("JENKINS_URL") != "":
		return &CI{
			Provider:   "jenkins",
			Actor:      getenv("BUILD_USER_ID"),
			Repository: getenv("JOB_NAME"),
			RunID:      getenv("BUILD_NUMBER"),
			URL:        getenv("BUILD_URL"),
		}
	case getenv("CI") != "" && getenv("CI") != "false":
		return &CI{Provider: "ci"}
	}
	return nil
}

func firstSet(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return ""
}
