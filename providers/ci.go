package providers

// CIConfig is implemented by the settings of adapters a CI job can sign in to with the CI
// system's own OpenID Connect token (secretshift generate ci), so that no long-lived store
// credential is kept in the CI system. Nothing it returns is a secret.
type CIConfig interface {
	// CISignIn returns how a job signs in to the store with these settings: ok is false when
	// the settings name no OIDC role, and the job then reads credentials from CI secrets.
	CISignIn() (s CISignIn, ok bool, err error)
}

// CISignIn is how a CI job signs in to one store with an OIDC token.
type CISignIn struct {
	// Env holds plain variables for the job (the store's address).
	Env map[string]string
	// Args are the adapter's flags for the command the job runs.
	Args []string
	// GitHubSteps sign in before secretshift runs, in a GitHub Actions job with
	// "id-token: write"; each action pinned by commit.
	GitHubSteps []CIStep
	// GitLabIDTokens are the GitLab id_tokens the job asks for: variable -> audience.
	GitLabIDTokens map[string]string
	// GitLabScript are the shell lines (POSIX sh, curl and jq at hand) that sign in with
	// those tokens and export what secretshift reads.
	GitLabScript []string
}

// CIStep is one step of a GitHub Actions job.
type CIStep struct {
	Name string `json:"name,omitempty"`
	ID   string `json:"id,omitempty"`
	// Uses is owner/repo@<40-hex commit>; Version the release it is, for the comment.
	Uses    string            `json:"uses,omitempty"`
	Version string            `json:"-"`
	With    map[string]string `json:"with,omitempty"`
	Run     string            `json:"run,omitempty"`
}
