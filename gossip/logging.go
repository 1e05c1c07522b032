package gossip

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
)

// memberlistLogWriter turns memberlist's "[LEVEL] memberlist: text" lines into
// slog records at the matching level.
type memberlistLogWriter struct {
	logger *slog.Logger
}

func (w *memberlistLogWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimRight(p, "\r\n"))
	level := slog.LevelInfo
	if strings.HasPrefix(line, "[") {
		if end := strings.IndexByte(line, ']'); end > 0 {
			switch line[1:end] {
			case "TRACE", "DEBUG":
				level = slog.LevelDebug
			case "WARN":
				level = slog.LevelWarn
			case "ERR", "ERROR":
				level = slog.LevelError
			}
			line = strings.TrimSpace(line[end+1:])
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	w.logger.Log(context.Background(), level, line, "source", "memberlist")
	return len(p), nil
}
