package labels

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Label keys. Keys are case-sensitive, like Docker labels.
const (
	Prefix           = "dcfw."
	KeyEnable        = "dcfw.enable"
	KeyInputPolicy   = "dcfw.input.policy"
	KeyOutputPolicy  = "dcfw.output.policy"
	InputRulePrefix  = "dcfw.input.rule."
	OutputRulePrefix = "dcfw.output.rule."
)

// MaxRuleNumber is the largest N of a dcfw.<dir>.rule.N key.
const MaxRuleNumber = math.MaxUint32

// Default chain policies when dcfw.input.policy / dcfw.output.policy are
// absent: what the original DCFW did.
const (
	DefaultInputPolicy  = Deny
	DefaultOutputPolicy = Allow
)

// keyAliases are label keys of older DCFW versions, suggested on error.
var keyAliases = map[string]string{
	"dcfw.enabled":        KeyEnable,
	"dcfw.input.default":  KeyInputPolicy,
	"dcfw.output.default": KeyOutputPolicy,
}

// hasPrefix reports whether key is under "dcfw." in any case. "DCFW.x" is
// not a valid key, but it is one of ours: a typo that must be reported, not
// ignored, or it could leave a container open.
func hasPrefix(key string) bool {
	return len(key) >= len(Prefix) && strings.EqualFold(key[:len(Prefix)], Prefix)
}

// Parse turns a container's labels into its canonical policy. Only keys
// under "dcfw." are read.
//
// Without a dcfw.enable label the container is Unmanaged and nothing else is
// looked at (see IgnoredKeys to warn about stray dcfw.* labels). Otherwise
// every dcfw.* label is checked, also when dcfw.enable is false, and every
// problem is returned as an Errors, sorted by key. On error the Policy has
// only its State set: Enabled or Disabled as dcfw.enable says, and Enabled
// when dcfw.enable itself is invalid (fail closed). The caller decides what
// an error means for the container; the package does no I/O and logs nothing.
func Parse(labels map[string]string) (Policy, error) {
	enable, ok := labels[KeyEnable]
	if !ok {
		return Policy{State: Unmanaged}, nil
	}
	var errs Errors
	state, err := parseEnable(enable)
	if err != nil {
		errs = append(errs, err)
	}
	pol := Policy{
		State:  state,
		Input:  Chain{Policy: DefaultInputPolicy},
		Output: Chain{Policy: DefaultOutputPolicy},
	}
	var input, output []numberedRule
	for key, value := range labels {
		if !hasPrefix(key) || key == KeyEnable {
			continue
		}
		switch {
		case key == KeyInputPolicy:
			a, err := parsePolicy(key, value)
			if err != nil {
				errs = append(errs, err)
			}
			pol.Input.Policy = a
		case key == KeyOutputPolicy:
			a, err := parsePolicy(key, value)
			if err != nil {
				errs = append(errs, err)
			}
			pol.Output.Policy = a
		case isRuleKey(key, InputRulePrefix):
			nr, rerrs := parseRuleLabel(key, value, InputRulePrefix)
			errs = append(errs, rerrs...)
			input = append(input, nr)
		case isRuleKey(key, OutputRulePrefix):
			nr, rerrs := parseRuleLabel(key, value, OutputRulePrefix)
			errs = append(errs, rerrs...)
			output = append(output, nr)
		default:
			errs = append(errs, &Error{
				Key: key, Value: value, Offset: -1, Token: key,
				Msg: "unknown label", Suggestion: suggestKey(key), Err: ErrUnknownLabel,
			})
		}
	}
	errs = append(errs, duplicateNumbers(input)...)
	errs = append(errs, duplicateNumbers(output)...)
	if len(errs) > 0 {
		sortErrors(errs)
		return Policy{State: state}, errs
	}
	pol.Input.Rules = orderedRules(input)
	pol.Output.Rules = orderedRules(output)
	return pol, nil
}

// IgnoredKeys returns, sorted, the keys under "dcfw." (in any case) of
// labels that have no dcfw.enable label, or nil. Parse ignores such labels,
// as the original DCFW did; they are most likely a forgotten or misspelt
// dcfw.enable, worth a warning by the caller.
func IgnoredKeys(labels map[string]string) []string {
	if _, ok := labels[KeyEnable]; ok {
		return nil
	}
	var keys []string
	for k := range labels {
		if hasPrefix(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// parseEnable reads dcfw.enable: the boolean words the original accepted,
// in any case, with surrounding white space ignored. An invalid word gives
// Enabled with the error, so a caller that ignores errors still fails closed.
func parseEnable(value string) (State, *Error) {
	switch strings.ToLower(strings.TrimSpace(value)) {
	case "true", "yes", "on", "1", "t", "y":
		return Enabled, nil
	case "false", "no", "off", "0", "f", "n":
		return Disabled, nil
	}
	return Enabled, &Error{
		Key: KeyEnable, Value: value, Offset: -1, Token: value,
		Msg:  fmt.Sprintf("%s is not a boolean", quoteValue(value)),
		Hint: "want true or false; also yes/no, on/off, 1/0, t/f, y/n",
		Err:  ErrValue,
	}
}

// parsePolicy reads a chain policy word: allow, deny or reject, any case.
func parsePolicy(key, value string) (Action, *Error) {
	word := strings.TrimSpace(value)
	if a, ok := parseAction(word); ok {
		return a, nil
	}
	return 0, &Error{
		Key: key, Value: value, Offset: -1, Token: value,
		Msg:        fmt.Sprintf("unknown policy %s", quoteValue(value)),
		Hint:       "want allow, deny or reject",
		Suggestion: suggest(word, actionWords, actionAliases),
		Err:        ErrValue,
	}
}

// numberedRule is a rule label on its way into a chain.
type numberedRule struct {
	key  string
	val  string
	n    uint64
	okN  bool // the number parsed
	rule Rule
	ok   bool // the rule parsed
}

// isRuleKey: dcfw.<dir>.rule.N, or the key without ".N" (a missing number).
func isRuleKey(key, prefix string) bool {
	return strings.HasPrefix(key, prefix) || key == strings.TrimSuffix(prefix, ".")
}

func parseRuleLabel(key, value, prefix string) (numberedRule, Errors) {
	nr := numberedRule{key: key, val: value}
	var errs Errors
	suffix, _ := strings.CutPrefix(key, prefix)
	if key == strings.TrimSuffix(prefix, ".") {
		suffix = ""
	}
	switch n, ok := parseDecimal(suffix, MaxRuleNumber); {
	case suffix == "":
		errs = append(errs, ruleNumberError(key, value, suffix, "missing rule number", "write "+prefix+"N"))
	case !isDigits(suffix):
		errs = append(errs, ruleNumberError(key, value, suffix,
			fmt.Sprintf("rule number %q is not a decimal number", suffix), "digits only, no sign"))
	case !ok:
		errs = append(errs, ruleNumberError(key, value, suffix,
			"rule number "+suffix+" too large", fmt.Sprintf("at most %d", uint64(MaxRuleNumber))))
	default:
		nr.n, nr.okN = n, true
	}
	r, rerrs := parseRule(value)
	for _, e := range rerrs {
		e.Key = key
	}
	errs = append(errs, rerrs...)
	if len(rerrs) == 0 {
		r.Label = key
		nr.rule, nr.ok = r, true
	}
	return nr, errs
}

func ruleNumberError(key, value, suffix, msg, hint string) *Error {
	return &Error{Key: key, Value: value, Offset: -1, Token: suffix, Msg: msg, Hint: hint, Err: ErrRuleNumber}
}

// duplicateNumbers reports keys of one direction that share a number
// (rule.1 and rule.01). The shortest spelling counts as the first; every
// other is an error naming it.
func duplicateNumbers(rules []numberedRule) Errors {
	byNumber := map[uint64][]string{}
	values := map[string]string{}
	for _, r := range rules {
		if r.okN {
			byNumber[r.n] = append(byNumber[r.n], r.key)
			values[r.key] = r.val
		}
	}
	var errs Errors
	for n, keys := range byNumber {
		if len(keys) < 2 {
			continue
		}
		slices.SortFunc(keys, func(a, b string) int {
			return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
		})
		for _, k := range keys[1:] {
			errs = append(errs, &Error{
				Key: k, Value: values[k], Offset: -1, Token: k,
				Msg: fmt.Sprintf("rule number %d is also used by %s", n, keys[0]),
				Err: ErrDuplicateRule,
			})
		}
	}
	return errs
}

// orderedRules returns the rules in ascending order of their number. Only
// called without errors, so every number and rule parsed and numbers are
// unique.
func orderedRules(rules []numberedRule) []Rule {
	if len(rules) == 0 {
		return nil
	}
	slices.SortFunc(rules, func(a, b numberedRule) int { return cmp.Compare(a.n, b.n) })
	out := make([]Rule, len(rules))
	for i, r := range rules {
		out[i] = r.rule
	}
	return out
}

// sortErrors orders errors by key (rule numbers numerically, so rule.2
// comes before rule.10), then by position in the value.
func sortErrors(errs Errors) {
	slices.SortStableFunc(errs, func(a, b *Error) int {
		return cmp.Or(compareKeys(a.Key, b.Key), cmp.Compare(a.Offset, b.Offset))
	})
}

func compareKeys(a, b string) int {
	for _, prefix := range []string{InputRulePrefix, OutputRulePrefix} {
		sa, okA := strings.CutPrefix(a, prefix)
		sb, okB := strings.CutPrefix(b, prefix)
		if okA && okB {
			na, errA := strconv.ParseUint(sa, 10, 64)
			nb, errB := strconv.ParseUint(sb, 10, 64)
			if errA == nil && errB == nil && na != nb {
				return cmp.Compare(na, nb)
			}
		}
	}
	return strings.Compare(a, b)
}

// suggestKey finds the valid key closest to an unknown one. Rule keys are
// tried with the unknown key's last part as number, so dcfw.inptu.rule.3
// suggests dcfw.input.rule.3.
func suggestKey(key string) string {
	candidates := []string{KeyEnable, KeyInputPolicy, KeyOutputPolicy}
	if i := strings.LastIndexByte(key, '.'); i >= 0 && isDigits(key[i+1:]) {
		candidates = append(candidates, InputRulePrefix+key[i+1:], OutputRulePrefix+key[i+1:])
	}
	return suggest(key, candidates, keyAliases)
}
