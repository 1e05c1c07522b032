package structs

// Error codes the RPC layer (rpcmux) sets on a RemoteError for failures that
// have no sentinel of their own in this package. rpcmux maps them back to
// context.DeadlineExceeded, context.Canceled and its own sentinels on the
// calling side, so callers can still decide with errors.Is.
const (
	CodeDeadlineExceeded = "deadline-exceeded"
	CodeCanceled         = "canceled"
	CodeTooLarge         = "too-large"
	CodeInternal         = "internal"
	CodeTooManyStreams   = "too-many-streams"
)
