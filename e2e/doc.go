// Package e2e holds dcfw's end-to-end tests: dcfw runs against the real
// Docker engine of this machine, and traffic is checked from inside real
// containers. They are written with internal/harness (its package comment
// shows how), which sets them up and cleans them up. The harness_infra
// tests prove the harness itself, without dcfw.
//
// scripts/test.sh runs them once per engine, and the engine restart test
// alone after the others; run one by hand with
//
//	go test ./e2e/ -run '^TestX$' -count=1
package e2e
