// Package testutil holds helpers shared by the module's tests: waiting on a
// condition with a deadline, so no test sleeps for a fixed time.
//
// It is for _test.go files and test-helper packages (such as
// gossip/gossiptest) only; production code never imports it.
package testutil
