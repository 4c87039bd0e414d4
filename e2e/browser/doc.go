// Package browser holds the real-browser end-to-end tests: Debian's
// chromium, driven by playwright-core from npm (node run.mjs SCENARIO),
// against the real latch binary and the records example
// (examples/records). The Go test (browser_test.go) starts the servers on
// random loopback ports and runs each scenario module; see README.md.
package browser
