package reconcile

import (
	"errors"
	"strings"

	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/nft"
)

// Mode is what dcfw wants in a namespace.
type Mode string

const (
	ModePolicy   Mode = "policy"   // the table compiled from the labels
	ModeLockdown Mode = "lockdown" // only loopback: label errors or a conflict
	ModeNoTable  Mode = "no-table" // dcfw.enable=false: no dcfw table at all
)

// desired is the state one namespace should be in.
type desired struct {
	mode   Mode
	table  *nft.Table    // nil for ModeNoTable
	policy labels.Policy // for logs, ModePolicy only
	// fingerprint identifies the desired state: equal fingerprints, equal
	// tables. It is the rendered table, so it also catches two label sets
	// that read differently but compile to the same rules.
	fingerprint string
	// logsSet: the log rules are as Config.LogBlocked says (withLogs);
	// logRules says what each NFLOG prefix stands for (LogDcfw).
	logsSet  bool
	logRules nft.LogRules
}

func wantPolicy(p labels.Policy, prefixID string) (desired, error) {
	t, err := compile(p, prefixID)
	if err != nil {
		return desired{}, err
	}
	return desired{mode: ModePolicy, table: t, policy: p, fingerprint: t.String()}, nil
}

func wantLockdown(prefixID string) desired {
	t := nft.Lockdown(prefixID)
	return desired{mode: ModeLockdown, table: t, fingerprint: t.String()}
}

func wantNoTable() desired {
	return desired{mode: ModeNoTable, fingerprint: removedFingerprint}
}

// compile is the one place that calls nft.Compile.
func compile(p labels.Policy, prefixID string) (*nft.Table, error) {
	return nft.Compile(p, prefixID)
}

// chainSummary describes one direction for logs: the policy word and the
// number of rules from the labels ("deny", 2); a lockdown has no rules.
func (d desired) chainSummary() (in, out string, inRules, outRules int) {
	switch d.mode {
	case ModePolicy:
		return d.policy.Input.Policy.String(), d.policy.Output.Policy.String(),
			len(d.policy.Input.Rules), len(d.policy.Output.Rules)
	case ModeLockdown:
		return "lockdown", "lockdown", 0, 0
	}
	return "none", "none", 0, 0
}

// maxQuotedValue bounds a label value added to an error line, as
// labels.Error bounds its own quotes.
const maxQuotedValue = 400

// labelErrorLines renders each problem of a labels.Parse error on its own
// line: label key, rule text, column and what is wrong.
func labelErrorLines(err error) []string {
	var list labels.Errors
	if errors.As(err, &list) {
		out := make([]string, 0, len(list))
		for _, e := range list {
			line := e.Error()
			// Problems with the key itself do not quote the value; add it
			// (escaped and bounded like the rest of the line), so the log
			// shows the label.
			if e.Column() == 0 && e.Value != "" && !strings.Contains(line, e.Value) {
				line += " (value " + labels.Quote(e.Value, maxQuotedValue) + ")"
			}
			out = append(out, line)
		}
		return out
	}
	return []string{err.Error()}
}
