// Package consumers runs real programs that use Consul against the built
// consulate binary: Patroni keeping a PostgreSQL cluster on Consulate's KV
// and sessions, and Prometheus discovering scrape targets through its
// consul_sd_configs. Each test skips, saying what is missing, when its
// program is not installed (.ci/run installs them).
//
// Every agent and consumer listens on 127.0.19.x; every process a test
// starts is killed in its cleanup.
//
// It holds tests only; the helpers here are not for production code.
package consumers
