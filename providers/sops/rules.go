package sops

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/getsops/sops/v3/config"
	"go.yaml.in/yaml/v3"

	"github.com/secretshift/secretshift/internal/outdir"
)

// configAbsent is the hash recorded for a folder without .sops.yaml.
const configAbsent = "absent"

// newFileProbe stands for a file of a namespace the folder holds no file of yet, when Open asks
// which creation rule sops would use for secretshift's next files. Its name follows the
// pattern of the files secretshift writes, so rules written for them (secretshift's own, a
// catch-all, `\.yaml$`) match it, and rules for particular namespaces do not.
const newFileProbe = "secretshift-new/secretshift-new.yaml"

// ruleBook is <out>/.sops.yaml as this process last read or wrote it, and what sops makes of
// its creation rules for secretshift's files.
type ruleBook struct {
	path   string      // absolute path of <out>/.sops.yaml
	absOut string      // absolute output folder: sops matches path_regex relative to it
	cfg    *sopsConfig // the parsed nodes, for merging and for naming rules
	sum    string      // "sha256:<hex>" of the content, or configAbsent
	rules  map[int]*ruleMatch
}

// ruleMatch is the creation rule sops picks for a file, with its recipients.
type ruleMatch struct {
	index int  // in creation_rules, from 0
	ours  bool // the rule has secretshift's path_regex
	desc  string
	rc    recipients
	canon []string
	// err says why secretshift cannot encrypt to the rule's recipients (wraps ErrUnsupported).
	err error
}

// loadRuleBook reads <out>/.sops.yaml. It refuses a file it could not merge its rule into.
func loadRuleBook(out string) (*ruleBook, error) {
	abs, err := filepath.Abs(out)
	if err != nil {
		return nil, fmt.Errorf("output folder %s: %w", out, err)
	}
	b := &ruleBook{path: filepath.Join(abs, configName), absOut: abs}
	raw, exists, err := b.read()
	if err == nil {
		err = b.set(raw, exists)
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// read returns the current content of .sops.yaml and whether it exists.
func (b *ruleBook) read() ([]byte, bool, error) {
	raw, err := os.ReadFile(b.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("read %s: %w", b.path, outdir.IOErr(err))
	}
	return raw, true, nil
}

// set makes raw the content the book describes.
func (b *ruleBook) set(raw []byte, exists bool) error {
	cfg, err := parseSopsConfig(raw)
	if err != nil {
		return fmt.Errorf("%s %w; not changing it", b.path, err)
	}
	b.cfg, b.sum, b.rules = cfg, configSum(raw, exists), map[int]*ruleMatch{}
	return nil
}

func configSum(raw []byte, exists bool) string {
	if !exists {
		return configAbsent
	}
	s := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(s[:])
}

// current checks that .sops.yaml still holds what the book describes: a person editing it
// while secretshift runs must not have their change merged away or half applied.
func (b *ruleBook) current() ([]byte, bool, error) {
	raw, exists, err := b.read()
	if err != nil {
		return nil, false, err
	}
	if configSum(raw, exists) != b.sum {
		return nil, false, fmt.Errorf("%s changed while secretshift was running; run again", b.path)
	}
	return raw, exists, nil
}

// forAddress returns the creation rule sops uses for the file at address (<namespace>/<name>.yaml),
// or nil when no rule matches. The rule is found by sops' own config package
// (config.LoadCreationRuleForFile, as `sops encrypt` and `sops updatekeys` call it, with the
// file's absolute path), so path_regex, key_groups, the string and list forms and the key
// kinds mean exactly what they mean to sops. The index, for messages and to tell secretshift's
// rule, comes from the same first-match walk over the parsed nodes.
func (b *ruleBook) forAddress(address string) (*ruleMatch, error) {
	rel := filepath.FromSlash(address)
	index, err := b.match(rel)
	if err != nil || index < 0 {
		return nil, err
	}
	if m, ok := b.rules[index]; ok {
		return m, nil
	}
	if _, _, err := b.current(); err != nil {
		return nil, err
	}
	conf, err := config.LoadCreationRuleForFile(b.path, filepath.Join(b.absOut, rel), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: creation rule for %s: %w", b.path, address, err)
	}
	if conf == nil {
		return nil, nil
	}
	r := b.cfg.rules.Content[index]
	m := &ruleMatch{index: index, ours: ruleValue(r, "path_regex") == rulePathRegex, desc: ruleDesc(index, r)}
	m.rc, m.err = fromKeyGroups(conf.KeyGroups)
	if m.err == nil {
		m.canon = m.rc.canon()
	}
	b.rules[index] = m
	return m, nil
}

// match returns the index of the first creation rule without path_regex or whose path_regex
// matches rel (relative to the folder of .sops.yaml, native separators), as sops picks it; -1
// when none does.
func (b *ruleBook) match(rel string) (int, error) {
	if b.cfg.rules == nil {
		return -1, nil
	}
	for i, r := range b.cfg.rules.Content {
		if r.Kind != yaml.MappingNode {
			continue
		}
		pr := ruleValue(r, "path_regex")
		if pr == "" {
			return i, nil
		}
		re, err := regexp.Compile(pr)
		if err != nil {
			return -1, fmt.Errorf("%s: %s: path_regex does not compile: %w", b.path, ruleDesc(i, r), err)
		}
		if re.MatchString(rel) {
			return i, nil
		}
	}
	return -1, nil
}

func ruleDesc(index int, r *yaml.Node) string {
	switch pr := ruleValue(r, "path_regex"); {
	case pr == rulePathRegex:
		return fmt.Sprintf("creation rule %d (secretshift's)", index+1)
	case pr == "":
		return fmt.Sprintf("creation rule %d (no path_regex, matches every file)", index+1)
	default:
		return fmt.Sprintf("creation rule %d (path_regex %q)", index+1, pr)
	}
}

// ruleUse is a creation rule sops would use for secretshift's files, with one file it is
// used for.
type ruleUse struct {
	*ruleMatch
	example string // an address, or newFileProbe
}

// where says which files a rule is used for, for messages.
func (u ruleUse) where() string {
	if u.example == newFileProbe {
		return "new files like <namespace>/<name>.yaml"
	}
	return u.example
}

// rulesInUse returns the creation rules that decide the recipients of secretshift's files:
// the rule sops picks for every file already in the folder and the one it picks for a file of
// a new namespace, each rule once. A rule that only matches files of a namespace with no file
// yet is not found here; Write checks the rule of each file it writes. A rule no file reaches
// (secretshift's own rule behind a catch-all) decides nothing and is not returned.
func (b *ruleBook) rulesInUse() ([]ruleUse, error) {
	addrs, err := existingAddresses(b.absOut)
	if err != nil {
		return nil, err
	}
	addrs = append(addrs, newFileProbe)
	var out []ruleUse
	seen := map[int]bool{}
	for _, a := range addrs {
		m, err := b.forAddress(a)
		if err != nil {
			return nil, err
		}
		if m != nil && !seen[m.index] {
			seen[m.index] = true
			out = append(out, ruleUse{m, a})
		}
	}
	return out, nil
}

// existingAddresses lists the files of the folder that have the address form secretshift
// writes (<namespace>/<name>.yaml); dot files such as .sops.yaml, the lock file and temporary
// files never do.
func existingAddresses(out string) ([]string, error) {
	entries, err := outdir.Entries(out, Name, "")
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, t := range entries {
		addrs = append(addrs, t.Address)
	}
	return addrs, nil
}
