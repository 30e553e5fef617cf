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
// looked at (see IgnoredKeys and NearMisses to warn about stray labels).
// Otherwise every dcfw.* label is checked, also when dcfw.enable is false,
// and the problems are returned as an Errors, sorted by key, within the
// limits MaxValueLen, MaxRulesPerChain, MaxErrorsPerLabel and MaxErrors. On
// error the Policy has only its State set: Enabled or Disabled as
// dcfw.enable says, and Enabled when dcfw.enable itself is invalid (fail
// closed). The caller decides what an error means for the container; the
// package does no I/O and logs nothing.
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
	keys, nIn, nOut := dcfwKeys(labels)
	input := direction{prefix: InputRulePrefix, total: nIn}
	output := direction{prefix: OutputRulePrefix, total: nOut}
	unchecked := 0
	for i, key := range keys {
		if len(errs) >= MaxErrors {
			// Enough to act on; reading on would only cost time.
			unchecked = len(keys) - i
			break
		}
		value := labels[key]
		switch {
		case isRuleKey(key, InputRulePrefix), isRuleKey(key, OutputRulePrefix):
			d := &input
			if !isRuleKey(key, InputRulePrefix) {
				d = &output
			}
			d.seen++
			switch {
			case d.seen == MaxRulesPerChain+1:
				errs = append(errs, tooManyRules(key, value, d.prefix, d.total))
			case d.seen > MaxRulesPerChain:
			case len(value) > MaxValueLen:
				errs = append(errs, tooLong(key, value, "split it into several rules"))
			default:
				nr, rerrs := parseRuleLabel(key, value, d.prefix)
				errs = append(errs, rerrs...)
				d.rules = append(d.rules, nr)
			}
		case len(value) > MaxValueLen:
			errs = append(errs, tooLong(key, value, ""))
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
		default:
			errs = append(errs, &Error{
				Key: key, Value: value, Offset: -1, Token: key,
				Msg: "unknown label", Suggestion: suggestKey(key), Err: ErrUnknownLabel,
			})
		}
	}
	errs = append(errs, duplicateNumbers(input.rules)...)
	errs = append(errs, duplicateNumbers(output.rules)...)
	if len(errs) == 0 {
		if err := checkNamesLimit(input.rules, output.rules); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		sortErrors(errs)
		return Policy{State: state}, capErrors(errs, unchecked)
	}
	pol.Input.Rules = orderedRules(input.rules)
	pol.Output.Rules = orderedRules(output.rules)
	return pol, nil
}

// direction collects the rule labels of one direction.
type direction struct {
	prefix string
	total  int // rule keys of this direction in the labels
	seen   int // rule keys read so far, in the order of compareKeys
	rules  []numberedRule
}

// dcfwKeys returns the keys under "dcfw." (in any case) but dcfw.enable, in
// the order of compareKeys, and how many rule keys each direction has.
// Parse reads them in this order, so that the labels it reads before
// stopping at MaxErrors, and the rules it reads up to MaxRulesPerChain,
// are always the same ones.
func dcfwKeys(labels map[string]string) (keys []string, nIn, nOut int) {
	for k := range labels {
		if !hasPrefix(k) || k == KeyEnable {
			continue
		}
		keys = append(keys, k)
		switch {
		case isRuleKey(k, InputRulePrefix):
			nIn++
		case isRuleKey(k, OutputRulePrefix):
			nOut++
		}
	}
	slices.SortFunc(keys, compareKeys)
	return keys, nIn, nOut
}

func tooManyRules(key, value, prefix string, n int) *Error {
	dir := strings.TrimSuffix(strings.TrimPrefix(prefix, Prefix), ".rule.")
	return &Error{
		Key: key, Value: value, Offset: -1, Token: key,
		Msg: fmt.Sprintf("%d %s rule labels, at most %d are allowed; this one and the %d after it are not read",
			n, dir, MaxRulesPerChain, n-MaxRulesPerChain-1),
		Hint: "join rules with lists: from A,B port 1,2",
		Err:  ErrTooManyRules,
	}
}

// capErrors cuts a sorted list to MaxErrors, the last being an
// ErrTooManyErrors that says what was left out: errors found but not kept,
// and labels not read at all.
func capErrors(errs Errors, unchecked int) Errors {
	if len(errs) <= MaxErrors && unchecked == 0 {
		return errs
	}
	keep := min(len(errs), MaxErrors-1)
	cut := len(errs) - keep
	var parts []string
	if cut > 0 {
		parts = append(parts, fmt.Sprintf("%d more %s not shown", cut, plural(cut, "error", "errors")))
	}
	if unchecked > 0 {
		parts = append(parts, fmt.Sprintf("%d more dcfw %s not checked", unchecked, plural(unchecked, "label", "labels")))
	}
	return append(errs[:keep:keep], &Error{
		Offset: -1,
		Msg:    fmt.Sprintf("too many errors (at most %d are shown): %s", MaxErrors, strings.Join(parts, ", ")),
		Err:    ErrTooManyErrors,
	})
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
	if len(value) > MaxValueLen {
		return Enabled, tooLong(KeyEnable, value, "")
	}
	switch strings.ToLower(strings.TrimSpace(value)) {
	case "true", "yes", "on", "1", "t", "y":
		return Enabled, nil
	case "false", "no", "off", "0", "f", "n":
		return Disabled, nil
	}
	return Enabled, &Error{
		Key: KeyEnable, Value: value, Offset: -1, Token: value,
		Msg:  fmt.Sprintf("%s is not a boolean", quoteWord(value)),
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
		Msg:        fmt.Sprintf("unknown policy %s", quoteWord(value)),
		Hint:       "want allow, deny or reject",
		Suggestion: suggest(word, actionWords, actionAliases),
		Err:        ErrValue,
	}
}

// numberedRule is a rule label on its way into a chain.
type numberedRule struct {
	key   string
	val   string
	n     uint64
	okN   bool // the number parsed
	rule  Rule
	ok    bool     // the rule parsed
	names []nameAt // the rule's names where written, in order
}

// isRuleKey: dcfw.<dir>.rule.N, or the key without ".N" (a missing number).
func isRuleKey(key, prefix string) bool {
	return strings.HasPrefix(key, prefix) || key == strings.TrimSuffix(prefix, ".")
}

func parseRuleLabel(key, value, prefix string) (numberedRule, Errors) {
	nr := numberedRule{key: key, val: value}
	var errs labelErrors
	suffix, _ := strings.CutPrefix(key, prefix)
	if key == strings.TrimSuffix(prefix, ".") {
		suffix = ""
	}
	switch n, ok := parseDecimal(suffix, MaxRuleNumber); {
	case suffix == "":
		errs.add(ruleNumberError(value, suffix, "missing rule number", "write "+prefix+"N"))
	case !isDigits(suffix):
		errs.add(ruleNumberError(value, suffix,
			fmt.Sprintf("rule number %s is not a decimal number", quoteTok(suffix)), "digits only, no sign"))
	case !ok:
		errs.add(ruleNumberError(value, suffix,
			"rule number "+SafeText(suffix, maxQuotedToken)+" too large", fmt.Sprintf("at most %d", uint64(MaxRuleNumber))))
	default:
		nr.n, nr.okN = n, true
	}
	if r, names, ok := parseRuleNames(value, &errs); ok {
		r.Label = key
		nr.rule, nr.ok, nr.names = r, true, names
	}
	return nr, errs.list(key, value)
}

func ruleNumberError(value, suffix, msg, hint string) Error {
	return Error{Value: value, Offset: -1, Token: suffix, Msg: msg, Hint: hint, Err: ErrRuleNumber}
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

// checkNamesLimit counts the distinct names of the rules, input rules then
// output rules, each in rule-number order, and returns the error of the
// first name over MaxNamesPerContainer, or nil. Only called without
// errors, so every rule parsed and numbers are unique.
func checkNamesLimit(input, output []numberedRule) *Error {
	seen := map[string]bool{}
	var over *numberedRule
	var overAt nameAt
	for _, rules := range [][]numberedRule{input, output} {
		rules = slices.Clone(rules)
		slices.SortFunc(rules, func(a, b numberedRule) int { return cmp.Compare(a.n, b.n) })
		for i := range rules {
			for _, n := range rules[i].names {
				if seen[n.name] {
					continue
				}
				seen[n.name] = true
				if len(seen) == MaxNamesPerContainer+1 {
					over, overAt = &rules[i], n
				}
			}
		}
	}
	if over == nil {
		return nil
	}
	return tooManyNames(over.key, over.val, overAt, len(seen))
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

// compareKeys orders label keys: rule keys of one direction by their
// number, those whose number does not parse after them, everything else as
// strings. It is a total order (a mix of numeric and string comparison
// would not be transitive: rule.2 < rule.10 < rule.1x < rule.2), so sorting
// does not depend on the order of the input.
func compareKeys(a, b string) int {
	for _, prefix := range []string{InputRulePrefix, OutputRulePrefix} {
		sa, okA := strings.CutPrefix(a, prefix)
		sb, okB := strings.CutPrefix(b, prefix)
		if !okA || !okB {
			continue
		}
		na, errA := strconv.ParseUint(sa, 10, 64)
		nb, errB := strconv.ParseUint(sb, 10, 64)
		switch {
		case errA == nil && errB == nil:
			if c := cmp.Compare(na, nb); c != 0 {
				return c
			}
		case errA == nil:
			return -1
		case errB == nil:
			return 1
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
