package audit

import (
	"os"
	"os/user"
	"strings"
)

// CurrentActor returns the local user and host and, when running in CI, the pipeline identity
// read from the process environment. Kubernetes and Vault identities are added by callers that
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
