package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/kube"
)

// discoverOptions are the flags of `secretshift discover`.
type discoverOptions struct {
	sourceOptions
	Fingerprints   bool
	FingerprintKey string
}

func newDiscoverCmd(f *factory) *cobra.Command {
	return discoverCmd(f, runDiscover)
}

// discoverCmd builds the command; run is replaceable so tests can check flag parsing alone.
func discoverCmd(f *factory, run func(ctx context.Context, f *factory, o *discoverOptions) error) *cobra.Command {
	o := &discoverOptions{}
	cmd := &cobra.Command{
		Use:   "discover",
		Short: "List Secrets, decide which should move, and find the workloads that use them",
		Long: `discover inventories Secrets from the cluster (or from manifests with -f) and says, for each one,
whether it should be migrated or skipped and why, which workloads consume it, and which references
point at Secrets or keys that do not exist. Values are never shown: only key names, sizes and, with
--fingerprints, keyed HMAC-SHA256 fingerprints.

Skipped by default, with these reason names (use --include to migrate them anyway):
  ` + reasonList() + `

With -f, -n keeps only the objects of that namespace (as a namespaced list in a cluster would)
and places objects without a namespace in it (else in "default"). Symlinks are followed. Manifests
already encrypted with sops or sealed by kubeseal are listed as skipped with reasons of their own.
With --shard I/N only shard I of N is listed (a Secret is in the shard its namespace/name hashes
to, so each Secret is in exactly one shard and stays there as others come and go); the summary
says how many of the Secrets selected it took.

Templated files (Helm, Jinja) must be rendered first; a document that is not valid YAML is
reported as an error.

Exit status: 0 when every object was read; 1 when nothing could be read (a missing file, an
unreachable cluster, a bad selector); 2 bad flags; 4 when some objects could not be read (they are
listed on stderr and under "errors" in -o json/yaml; everything else is still reported).`,
		Example: `  secretshift discover -A
  secretshift discover -n shop --type Opaque --type kubernetes.io/tls -o json
  secretshift discover -f manifests/ --fingerprints
  kubectl get secrets -A -o yaml | secretshift discover -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.FingerprintKey != "" {
				o.Fingerprints = true
			}
			return run(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	f.bindCluster(fl)
	o.sourceOptions.bind(fl)
	o.sourceOptions.bindShard(fl, shardHelp)
	fl.BoolVar(&o.Fingerprints, "fingerprints", false, "show keyed HMAC-SHA256 fingerprints per key and per Secret")
	fl.StringVar(&o.FingerprintKey, "fingerprint-key", "", "file holding the fingerprint key (hex); implies --fingerprints\n(default: $"+fingerprintKeyEnv+", else .secretshift/keys/hmac.key, generated on first use)")
	completeSourceFlags(cmd)
	return cmd
}

// reasonList names the skip reasons for the help text, from the one list kube keeps.
func reasonList() string {
	names := make([]string, 0, len(kube.Reasons()))
	for _, r := range kube.Reasons() {
		names = append(names, string(r))
	}
	return strings.Join(names, ", ")
}

func runDiscover(ctx context.Context, f *factory, o *discoverOptions) error {
	if err := o.sourceOptions.validate(f); err != nil {
		return err
	}
	opts, err := f.discoverOptions(&o.sourceOptions, nil)
	if err != nil {
		return err
	}
	if o.Fingerprints {
		fp, err := f.fingerprinter(o.FingerprintKey, "")
		if err != nil {
			return err
		}
		opts.Fingerprinter = fp
	}

	report, err := kube.Discover(ctx, opts)
	if err != nil {
		return err
	}
	for _, p := range report.Errors {
		fmt.Fprintf(f.ErrOut, "secretshift: %s\n", p.Error())
	}
	f.noteShard(&o.sourceOptions, report)
	if f.Output == outputJSON {
		// Same bytes as render's encoder, written item by item to keep memory flat.
		err = report.WriteJSON(f.Out)
	} else {
		err = f.render(report, func() error { return writeDiscoverTable(f.Out, report, time.Now()) })
	}
	if err != nil {
		return err
	}
	if report.Summary.Secrets == 0 && report.Summary.Errors == 0 {
		fmt.Fprintln(f.status(), noneFound(f.sourceSpec(&o.sourceOptions, opts)))
	}
	fmt.Fprintln(f.status(), summaryLine(report.Summary))
	if report.Summary.Errors > 0 {
		return withCode(ExitPartial, nil)
	}
	return nil
}

// summaryLine is the one-line account printed to stderr after every run.
func summaryLine(s kube.Summary) string {
	line := fmt.Sprintf("%s: %d to migrate, %d skipped, %s", plural(s.Secrets, "secret"), s.Migrate, s.Skip, plural(s.Errors, "error"))
	var extra []string
	if s.Unused > 0 {
		extra = append(extra, fmt.Sprintf("%d unused", s.Unused))
	}
	if s.MissingReferences > 0 {
		extra = append(extra, plural(s.MissingReferences, "missing reference"))
	}
	if len(extra) > 0 {
		line += "; " + strings.Join(extra, ", ")
	}
	return line
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// writeDiscoverTable prints the report for people: one row per Secret (and per object that
// could not be read), then the missing references, if any.
func writeDiscoverTable(out io.Writer, r *kube.Discovery, now time.Time) error {
	tw := newTable(out)
	// With --fingerprints, the table shows each Secret's fingerprint shortened, enough to compare
	// by eye; -o json has the whole one and one per key.
	withFP := len(r.Items) > 0 && r.Items[0].Fingerprint != ""
	header := "NAMESPACE\tNAME\tTYPE\tKEYS\tSIZE\tAGE\tCONSUMERS\tACTION/REASON"
	if withFP {
		header += "\tFINGERPRINT"
	}
	fmt.Fprintln(tw, header)
	for i := range r.Items {
		it := &r.Items[i]
		action := string(it.Action)
		if it.Reason != "" {
			action += "/" + string(it.Reason)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s", it.Namespace, it.Name, it.Type, len(it.Keys),
			humanSize(it.Size), age(it.Created, now), consumerList(it.Consumers), action)
		if withFP {
			fmt.Fprintf(tw, "\t%s", audit.ShortFingerprint(it.Fingerprint))
		}
		fmt.Fprintln(tw)
	}
	seen := map[string]bool{}
	for _, p := range r.Errors {
		if p.Kind != "" && p.Kind != "Secret" {
			continue
		}
		name := p.Name
		if name == "" {
			// A document without a readable name: its file and position, short enough for a cell.
			name = fmt.Sprintf("(%s#%d)", filepath.Base(p.Origin.File), p.Origin.Index)
		}
		id := p.Origin.String() + "\x00" + p.Namespace + "\x00" + name
		if seen[id] {
			continue
		}
		seen[id] = true
		fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\terror\n", dash(p.Namespace), name)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.MissingReferences) == 0 {
		return nil
	}
	fmt.Fprintln(out)
	tw = newTable(out)
	fmt.Fprintln(tw, "MISSING\tPROBLEM\tCONSUMER\tVIA\tOPTIONAL")
	for _, m := range r.MissingReferences {
		ref := m.Namespace + "/" + m.Secret
		if m.Key != "" {
			ref += "[" + m.Key + "]"
		}
		optional := "no"
		if m.Optional {
			optional = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ref, m.Problem, m.Consumer, useString(m.Use), optional)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// consumerList shows up to three consumers, then how many more.
func consumerList(cs []kube.Consumer) string {
	if len(cs) == 0 {
		return "<none>"
	}
	const shown = 3
	names := make([]string, 0, shown)
	for i, c := range cs {
		if i == shown {
			break
		}
		names = append(names, c.Kind+"/"+c.Name)
	}
	s := strings.Join(names, ",")
	if len(cs) > shown {
		s += fmt.Sprintf(",+%d more", len(cs)-shown)
	}
	return s
}

// useString describes a reference in a few words, e.g. "env DB_PASSWORD (container app)".
func useString(u kube.Use) string {
	s := string(u.Via)
	switch {
	case u.Env != "":
		s += " " + u.Env
	case u.Volume != "":
		s += " " + u.Volume
	case u.ServiceAccount != "":
		s += " " + u.ServiceAccount
	}
	if u.Container != "" {
		s += " (container " + u.Container + ")"
	}
	return s
}

func humanSize(n int) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%dB", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
}

// age formats like kubectl: the largest unit, e.g. 42s, 5m, 3h, 12d.
func age(t, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
