package e2e

import (
	"github.com/dcfw/dcfw/internal/harness"
	"os"
	"testing"
)

// TestMain removes what the whole run shared (the test image, built
// binaries) after all tests; each test removes its own objects itself.
func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
