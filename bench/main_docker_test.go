package bench_test

import (
	"os"
	"testing"

	"github.com/dcfw/dcfw/internal/harness"
)

// TestMain removes what the Docker benchmarks' run shared (the test image,
// built binaries) after all tests; without DCFW_BENCH=1 they skip and
// nothing was built.
func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
