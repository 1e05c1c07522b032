// Package rexec is the agent side of Consul's remote execution
// (`consulate exec`): when a `_rexec` user event reaches an agent that has
// remote exec enabled (disable_remote_exec = false), the Executor reads the
// job from the KV store at <prefix>/<session>/job, acknowledges it at
// <prefix>/<session>/<node>/ack, runs the command, streams its output in
// chunks to <prefix>/<session>/<node>/out/<index> (an empty chunk is a
// heartbeat while the command is silent) and writes the exit code to
// <prefix>/<session>/<node>/exit. Every write is a KV lock acquisition
// with the job's session, so the CLI destroying its session stops a job's
// writes, and ACLs apply through the agent token.
//
// It is not the CLI side (cmd/consulate/exec.go) and does not decide
// whether an event is for this agent (package userevent filters events).
package rexec
