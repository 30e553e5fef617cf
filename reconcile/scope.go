package reconcile

import (
	"fmt"
	"strings"

	"github.com/dcfw/dcfw/engine"
)

// Scope limits dcfw to the containers that carry one label (and, if Value
// is set, with that value), e.g. one compose project
// (com.docker.compose.project=shop), or one test run on a shared engine.
// Containers outside the scope are left alone, as if they had no dcfw
// labels. The zero Scope includes every container.
type Scope struct {
	Key      string
	Value    string
	HasValue bool
}

// ParseScope parses KEY or KEY=VALUE; "" is the zero Scope.
func ParseScope(s string) (Scope, error) {
	if s == "" {
		return Scope{}, nil
	}
	k, v, hasValue := strings.Cut(s, "=")
	if k == "" {
		return Scope{}, fmt.Errorf("invalid label selector %q: want KEY or KEY=VALUE", s)
	}
	return Scope{Key: k, Value: v, HasValue: hasValue}, nil
}

func (s Scope) String() string {
	switch {
	case s.Key == "":
		return "all containers"
	case s.HasValue:
		return s.Key + "=" + s.Value
	}
	return s.Key
}

// Includes reports whether a container with these labels is in scope.
func (s Scope) Includes(labels map[string]string) bool {
	if s.Key == "" {
		return true
	}
	v, ok := labels[s.Key]
	return ok && (!s.HasValue || v == s.Value)
}

// filter returns the containers in scope.
func (s Scope) filter(cs []engine.Container) []engine.Container {
	if s.Key == "" {
		return cs
	}
	out := make([]engine.Container, 0, len(cs))
	for _, c := range cs {
		if s.Includes(c.Labels) {
			out = append(out, c)
		}
	}
	return out
}
