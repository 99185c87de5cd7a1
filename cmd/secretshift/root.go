package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// factory carries what every command needs: IO streams, global flags, and lazily built
// clients. Commands receive it instead of reaching for globals, so tests can run them with
// in-memory streams.
type factory struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	Kubeconfig    string
	Context       string
	NoCompression bool // --disable-compression
	Namespace     string
	AllNamespaces bool
	Selector      string
	Output        string
	Verbose       int
	Quiet         bool

	// kubeUser is the identity the API server reports for our credentials, once a cluster was
	// read; it goes into audit records.
	kubeUser string

	// Getenv is os.Getenv, replaceable in tests.
	Getenv func(string) string

	// closers are released when the command ends (providers holding a lock).
	closers []io.Closer
}

// Output formats accepted by -o.
const (
	outputTable = "table"
	outputJSON  = "json"
	outputYAML  = "yaml"
)

func (f *factory) validateOutput() error {
	switch f.Output {
	case outputTable, outputJSON, outputYAML:
		return nil
	}
	return usageError("unknown output format %q: use table, json or yaml", f.Output)
}

// machineOutput reports whether stdout carries JSON or YAML for programs.
func (f *factory) machineOutput() bool { return f.Output == outputJSON || f.Output == outputYAML }

// isTerminal reports whether w is an interactive terminal.
func isTerminal(w io.Writer) bool {
	file, ok := w.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

// status is where progress notes, summaries and hints go: stderr, or nowhere with --quiet.
// Errors and warnings always go to stderr.
func (f *factory) status() io.Writer {
	if f.Quiet {
		return io.Discard
	}
	return f.ErrOut
}

// bindCluster registers the flags that choose the cluster and the Secrets in it, on the
// commands that read a cluster (kubectl's names and meanings).
func (f *factory) bindCluster(fl *pflag.FlagSet) {
	f.bindKubeconfig(fl)
	fl.StringVarP(&f.Namespace, "namespace", "n", "", "namespace to work in (default: the context's namespace; with -f, only objects of this namespace, and objects without one are put in it)")
	fl.BoolVarP(&f.AllNamespaces, "all-namespaces", "A", false, "work across all namespaces")
	fl.StringVarP(&f.Selector, "selector", "l", "", "label selector for Secrets (e.g. app=web,tier!=cache)")
}

// bindKubeconfig registers the flags that choose the kubeconfig and its context.
func (f *factory) bindKubeconfig(fl *pflag.FlagSet) {
	fl.StringVar(&f.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fl.StringVar(&f.Context, "context", "", "kubeconfig context to use")
	fl.BoolVar(&f.NoCompression, "disable-compression", false, "ask the API server for uncompressed responses, as kubectl's flag does (also disable-compression in the kubeconfig's cluster); faster when it is near, e.g. in the cluster")
}

// logger returns a logger to stderr. -v shows info, -vv debug; by default only warnings.
func (f *factory) logger() *slog.Logger {
	level := slog.LevelWarn
	switch {
	case f.Verbose >= 2:
		level = slog.LevelDebug
	case f.Verbose == 1:
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(f.ErrOut, &slog.HandlerOptions{Level: level}))
}

// kubeLoader returns the kubeconfig loader honouring --kubeconfig, --context and -n, with the
// same precedence as kubectl (flags, then KUBECONFIG, then ~/.kube/config, then in-cluster).
func (f *factory) kubeLoader() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if f.Kubeconfig != "" {
		rules.ExplicitPath = f.Kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: f.Context}
	if f.Namespace != "" {
		overrides.Context.Namespace = f.Namespace
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
}

// restConfig builds a client configuration for the selected cluster.
func (f *factory) restConfig() (*rest.Config, error) {
	cfg, err := f.kubeLoader().ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	// Set here rather than as an override: the in-cluster configuration takes no overrides.
	cfg.DisableCompression = cfg.DisableCompression || f.NoCompression
	return cfg, nil
}

// namespace returns the namespace selected by -n or the kubeconfig context ("" with -A).
func (f *factory) namespace() (string, error) {
	if f.AllNamespaces {
		return "", nil
	}
	if f.Namespace != "" {
		return f.Namespace, nil
	}
	ns, _, err := f.kubeLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("determine namespace: %w", err)
	}
	return ns, nil
}

func newRootCmd(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secretshift",
		Short: "Move plain Kubernetes Secrets into real secret stores, and keep them fresh",
		Long: `secretshift finds plain Kubernetes Secrets and migrates them into a secret store (see --to of
migrate for the stores), generates External Secrets Operator manifests so workloads keep their
Secret names, hands the live Secrets to ESO in place (cutover), rotates stored values in staged,
audited steps (rotate; unattended with generate), and records every change in a tamper-evident
audit log.

Secret values are never printed: output shows key names, sizes and keyed fingerprints.

` + exitCodesHelp,
		Example: `  secretshift migrate --to sops -f testdata/demo --sops-out demo-out   # no cluster needed
  secretshift discover -A
  secretshift plan --to vault -A --out plan.json && secretshift apply plan.json
  secretshift audit verify`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			f.logMemoryLimit()
			return f.validateOutput()
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVarP(&f.Output, "output", "o", outputTable, "output format: table, json or yaml")
	pf.CountVarP(&f.Verbose, "verbose", "v", "log what each step does to stderr (-v steps of the run, -vv each object); never secret values")
	pf.BoolVarP(&f.Quiet, "quiet", "q", false, "print nothing on stderr but errors and warnings (for scripts)")
	completeWords(cmd, "output", outputTable, outputJSON, outputYAML)

	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError("%v", err) })
	cmd.SetGlobalNormalizationFunc(flagAliases)

	for _, add := range subcommands {
		cmd.AddCommand(add(f))
	}
	describeCompletion(cmd)
	return cmd
}

// subcommands lists the command constructors in help order.
var subcommands = []func(*factory) *cobra.Command{
	newDiscoverCmd,
	newPlanCmd,
	newMigrateCmd,
	newApplyCmd,
	newVerifyCmd,
	newRotateCmd,
	newCutoverCmd,
	newGenerateCmd,
	newAuditCmd,
	newVersionCmd,
	newDocsCmd,
}

// Main runs the CLI with the given arguments and streams and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) ExitCode {
	f := &factory{In: stdin, Out: stdout, ErrOut: stderr, Getenv: os.Getenv}
	cmd := newRootCmd(f)
	cmd.SetArgs(args)
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ran, err := cmd.ExecuteContextC(ctx)
	for _, c := range f.closers {
		if cerr := c.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	var coded *exitError
	if errors.Is(err, context.Canceled) && !errors.As(err, &coded) {
		err = withCode(ExitCancelled, errors.New("interrupted: stopped before finishing\nrun the same command again; it picks up where this run stopped"))
	}
	code := exitCodeFor(err)
	if err != nil && err.Error() != "" {
		printError(stderr, err)
		if code == ExitUsage {
			path := "secretshift"
			if ran != nil {
				path = ran.CommandPath()
			}
			fmt.Fprintf(stderr, "See '%s --help'.\n", path)
		}
	}
	return code
}

// printWarning writes a warning that does not stop the command, in the error layout.
func printWarning(w io.Writer, err error) { printMessage(w, "secretshift: warning: ", err) }

// flagAliases keeps the older names of flags working, hidden from help: one name per idea
// across commands (--audit-log, --fingerprint-key, --audit-signing-key).
func flagAliases(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	switch name {
	case "log":
		name = "audit-log"
	case "hmac-key":
		name = "fingerprint-key"
	case "signing-key":
		name = "audit-signing-key"
	}
	return pflag.NormalizedName(name)
}

// usageArgs makes an argument count check a usage error (exit 2, with the help hint).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError("%v", err)
		}
		return nil
	}
}

// describeCompletion gives cobra's completion command the examples and exit status every
// command's help has, and makes an unknown shell a usage error.
func describeCompletion(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Args = usageArgs(cobra.NoArgs)
		c.RunE = func(cmd *cobra.Command, args []string) error {
			return usageError("name a shell: bash, zsh, fish or powershell")
		}
		c.Long += "\n\nExit status: 0, or 2 for an unknown shell."
		c.Example = "  source <(secretshift completion bash)\n  secretshift completion zsh > \"${fpath[1]}/_secretshift\""
		for _, sh := range c.Commands() {
			sh.Long += "\n\nExit status: 0."
			sh.Example = "  secretshift completion " + sh.Name() + " > secretshift." + sh.Name()
		}
	}
}

// completeWords offers words as the completions of a flag's value.
func completeWords(cmd *cobra.Command, flag string, words ...string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(words, cobra.ShellCompDirectiveNoFileComp))
}

// exitCodesHelp is the exit status table every command's help ends with; README.md holds the
// same table.
const exitCodesHelp = `Exit status:
  0    success
  1    error; nothing was changed (a rejected plan lists every problem)
  2    bad flags or arguments
  3    plan --detailed-exitcode: there are changes to apply
  4    partial: some objects could not be read, conflicted or failed; the rest was done
  5    verification failed (verify, audit verify, cutover); rotate: a hook failed, previous values back
  6    the audit log could not be written: stopped before changing anything further
  130  interrupted; run the same command again to resume`

// printError writes err the way all secretshift errors look: "secretshift: <message>", with
// any hint lines (after a blank line in the message) indented below.
func printError(w io.Writer, err error) { printMessage(w, "secretshift: ", err) }

// printMessage writes err's first line after prefix and its hint lines indented below.
func printMessage(w io.Writer, prefix string, err error) {
	first, rest, _ := strings.Cut(err.Error(), "\n")
	fmt.Fprintf(w, "%s%s\n", prefix, first)
	if rest != "" {
		for _, line := range strings.Split(strings.TrimSpace(rest), "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
}
