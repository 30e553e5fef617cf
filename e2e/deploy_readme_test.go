package e2e

// The README and the user guides under docs/ against the code: their label
// examples parse and compile, the table sample in docs/logs.md is what dcfw
// makes of the README's quick start, the README's `docker run` deployment
// has the compose file's settings, its build command is the one the
// Dockerfile, scripts/run.sh and these tests use, and CI runs its test
// command. No engine or root needed.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/dcfw/dcfw/droplog"
	"github.com/dcfw/dcfw/internal/harness"
	dcfwlabels "github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/nft"
)

// readRepoFile reads a file of the repository.
func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// codeBlocks returns the fenced code blocks of a Markdown text with the
// given info string ("yaml", "sh", "" for any).
func codeBlocks(md, lang string) []string {
	re := regexp.MustCompile("(?ms)^```([a-z]*)\n(.*?)^```")
	var out []string
	for _, m := range re.FindAllStringSubmatch(md, -1) {
		if lang == "" || m[1] == lang {
			out = append(out, m[2])
		}
	}
	return out
}

// labelSets finds every `labels:` in a YAML document, as a map (compose's
// mapping form, values as compose turns them into strings) or a list of
// KEY=VALUE (its list form).
func labelSets(t *testing.T, node *yaml.Node) []map[string]string {
	t.Helper()
	var sets []map[string]string
	if node.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, v := node.Content[i], node.Content[i+1]
			if k.Value != "labels" {
				sets = append(sets, labelSets(t, v)...)
				continue
			}
			m := map[string]string{}
			switch v.Kind {
			case yaml.MappingNode:
				for j := 0; j+1 < len(v.Content); j += 2 {
					m[v.Content[j].Value] = v.Content[j+1].Value
				}
			case yaml.SequenceNode:
				for _, item := range v.Content {
					key, val, _ := strings.Cut(item.Value, "=")
					m[key] = val
				}
			default:
				t.Fatalf("labels at line %d is neither a mapping nor a list", v.Line)
			}
			sets = append(sets, m)
		}
		return sets
	}
	for _, c := range node.Content {
		sets = append(sets, labelSets(t, c)...)
	}
	return sets
}

// Every label example of the README and of docs/labels.md parses without
// error and compiles.
func TestDeployReadmeLabelExamples(t *testing.T) {
	for _, f := range []struct {
		path string
		min  int
		what string
	}{
		{"README.md", 2, "quick start, examples"},
		{"docs/labels.md", 4, "examples, the original's, the two services with names"},
	} {
		n := 0
		for _, block := range codeBlocks(readRepoFile(t, f.path), "yaml") {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(block), &doc); err != nil {
				t.Fatalf("%s: yaml block does not parse: %v\n%s", f.path, err, block)
			}
			for _, set := range labelSets(t, &doc) {
				n++
				pol, err := dcfwlabels.Parse(set)
				if err != nil {
					t.Errorf("%s: labels %v: %v", f.path, set, err)
					continue
				}
				if pol.State != dcfwlabels.Enabled {
					t.Errorf("%s: labels %v: state %v, want enabled", f.path, set, pol.State)
					continue
				}
				// Names compile to empty sets: their addresses come later.
				if _, err := nft.CompileNames(pol, "0123456789abcdef", nil); err != nil {
					t.Errorf("%s: labels %v: %v", f.path, set, err)
				}
			}
		}
		if n < f.min {
			t.Errorf("found %d label examples in %s, want at least %d (%s)", n, f.path, f.min, f.what)
		}
	}
}

// The sample of `nft list table inet dcfw` in docs/logs.md is what dcfw
// makes of the README's quick-start example (the README's first yaml
// block): every line it shows, in the order shown, is a line of the
// compiled table. "..." stands for lines left out.
func TestDeployReadmeLiveRulesSample(t *testing.T) {
	readme := readRepoFile(t, "README.md")
	yamls := codeBlocks(readme, "yaml")
	if len(yamls) == 0 {
		t.Fatal("README.md has no yaml block")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(yamls[0]), &doc); err != nil {
		t.Fatal(err)
	}
	sets := labelSets(t, &doc)
	if len(sets) != 1 {
		t.Fatalf("the quick-start block has %d label sets, want 1", len(sets))
	}
	pol, err := dcfwlabels.Parse(sets[0])
	if err != nil {
		t.Fatal(err)
	}
	var sample string
	for _, block := range codeBlocks(readRepoFile(t, "docs/logs.md"), "") {
		if strings.HasPrefix(block, "table inet dcfw {") {
			sample = block
		}
	}
	if sample == "" {
		t.Fatal("docs/logs.md has no `table inet dcfw {` block")
	}
	// The sample is the default, --log-blocked=dcfw: log rules send to
	// dcfw's NFLOG group, their prefixes the label keys.
	if !strings.Contains(sample, fmt.Sprintf(" group %d ", droplog.DefaultGroup)) {
		t.Fatalf("the table sample in docs/logs.md has no log rule to dcfw's NFLOG group %d", droplog.DefaultGroup)
	}
	tbl, err := nft.Compile(pol, strings.Repeat("0", 64))
	if err != nil {
		t.Fatal(err)
	}
	tbl.LogToGroup(droplog.DefaultGroup)
	rendered := strings.Split(tbl.String(), "\n")
	at := 0
	for _, line := range strings.Split(harness.NormalizeSecrets(strings.TrimRight(sample, "\n")), "\n") {
		if strings.TrimSpace(line) == "..." {
			continue
		}
		i := slices.Index(rendered[at:], line)
		if i < 0 {
			t.Errorf("docs/logs.md's table sample line %q is not in the compiled quick-start table (in this order):\n%s", line, tbl)
			continue
		}
		at += i + 1
	}
}

// The README's `docker run` is the compose file's deployment.
func TestDeployReadmeDockerRunMatchesCompose(t *testing.T) {
	svc := loadCompose(t)
	var cmd string
	for _, block := range codeBlocks(readRepoFile(t, "README.md"), "sh") {
		if strings.Contains(block, "docker run -d --name dcfw") {
			cmd = strings.ReplaceAll(block, "\\\n", " ")
		}
	}
	if cmd == "" {
		t.Fatal("README.md has no `docker run -d --name dcfw` block")
	}
	args := strings.Fields(cmd)[2:]
	got := map[string][]string{}
	var image string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch a {
		case "-d", "--read-only":
			got[a] = append(got[a], "")
		case "--name", "--restart", "--pid", "--network", "--security-opt", "--cap-drop", "--cap-add", "-e", "-v", "--tmpfs":
			if i+1 == len(args) {
				t.Fatalf("docker run: %s without a value", a)
			}
			got[a] = append(got[a], args[i+1])
			i++
		default:
			if strings.HasPrefix(a, "-") || image != "" {
				t.Fatalf("docker run: %q is not a flag this test knows; teach it, or keep the README's command simple", a)
			}
			image = a
		}
	}
	// docker run takes apparmor=unconfined, compose apparmor:unconfined.
	norm := func(xs []string) []string {
		out := make([]string, len(xs))
		for i, x := range xs {
			out[i] = strings.Replace(x, "apparmor=", "apparmor:", 1)
		}
		slices.Sort(out)
		return out
	}
	var envKeys []string
	for _, e := range got["-e"] {
		k, _, _ := strings.Cut(e, "=")
		envKeys = append(envKeys, k)
	}
	var composeEnvKeys []string
	for k, v := range svc.Environment {
		// Variables that are empty by default need not be passed.
		if def, err := interpolateUnset(v); err != nil || def != "" {
			composeEnvKeys = append(composeEnvKeys, k)
		}
	}
	checks := []struct {
		what      string
		got, want []string
	}{
		{"--name", got["--name"], []string{svc.ContainerName}},
		{"--restart", got["--restart"], []string{svc.Restart}},
		{"--pid", got["--pid"], []string{svc.Pid}},
		{"--network", got["--network"], []string{svc.NetworkMode}},
		{"--security-opt", norm(got["--security-opt"]), norm(svc.SecurityOpt)},
		{"--cap-drop", norm(got["--cap-drop"]), norm(svc.CapDrop)},
		{"--cap-add", norm(got["--cap-add"]), norm(svc.CapAdd)},
		{"-v", norm(got["-v"]), norm(svc.Volumes)},
		{"--tmpfs", norm(got["--tmpfs"]), norm(svc.Tmpfs)},
		{"-e keys", norm(envKeys), norm(composeEnvKeys)},
		{"image", []string{image + ":latest"}, []string{svc.Image}},
	}
	for _, c := range checks {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("README docker run %s: %q, compose file: %q", c.what, c.got, c.want)
		}
	}
	if (len(got["--read-only"]) > 0) != svc.ReadOnly {
		t.Errorf("README docker run --read-only: %v, compose read_only: %v", len(got["--read-only"]) > 0, svc.ReadOnly)
	}
}

// One build command everywhere, with the flags the tests build with; the
// README's two commands, its sections and its links to the user guides,
// and the guides' commands; CI runs the test command.
func TestDeployReadmeCommands(t *testing.T) {
	build := releaseBuild
	for _, f := range []string{"README.md", dockerfilePath, "scripts/run.sh", composePath} {
		if !strings.Contains(readRepoFile(t, f), build) {
			t.Errorf("%s lacks the build command %q", f, build)
		}
	}
	readme := readRepoFile(t, "README.md")
	for _, want := range []string{
		"\nbash scripts/run.sh ", "\nbash scripts/test.sh ",
		"nsenter -t", "nft list table inet dcfw", "net.netfilter.nf_log_all_netns=1",
		"## Protection before the first packet",
		"## Several hosts", "docker stack deploy --resolve-image never -c deploy/dcfw-stack.yml dcfw\n",
		"docker service update --image ",
		"](docs/labels.md", "](docs/logs.md", "](docs/swarm.md", "](docs/sandbox-path.md", "](docs/command-line.md)",
	} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md lacks %q", want)
		}
	}
	for _, g := range []struct{ path, want string }{
		{"docs/logs.md", "nsenter -t"},
		{"docs/logs.md", "\nsudo sysctl net.netfilter.nf_log_all_netns=1\n"},
		{"docs/swarm.md", build},
		{"docs/swarm.md", "\ndocker stack deploy --resolve-image never -c deploy/dcfw-stack.yml dcfw\n"},
		{"docs/swarm.md", "\ndocker service update --image dcfw:NEW --no-resolve-image dcfw_dcfw "},
		{"docs/swarm.md", "\nDCFW_IMAGE=dcfw:NEW docker stack deploy --resolve-image never -c deploy/dcfw-stack.yml dcfw "},
	} {
		if !strings.Contains(readRepoFile(t, g.path), g.want) {
			t.Errorf("%s lacks %q", g.path, g.want)
		}
	}
	ci := readRepoFile(t, ".ci/run")
	if !regexp.MustCompile(`(?m)^exec bash scripts/test\.sh\b`).MatchString(ci) {
		t.Errorf(".ci/run does not run the README's test command (bash scripts/test.sh):\n%s", ci)
	}
}
