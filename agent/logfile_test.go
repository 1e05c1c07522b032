package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"consulate/config"
	"consulate/internal/testutil"
)

// rotated lists the rotated files of name in dir, oldest first.
func rotated(t *testing.T, dir, base, ext string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, base+"-*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(base) + `-\d{19}` + regexp.QuoteMeta(ext) + `$`)
	for _, f := range m {
		if !re.MatchString(filepath.Base(f)) {
			t.Errorf("rotated file %s is not named <name>-<unix nanoseconds><ext>", f)
		}
	}
	return m
}

func TestLogFileRotatesByBytesAndKeepsMaxFiles(t *testing.T) {
	dir := t.TempDir()
	l, err := openLogFile(config.LogFile{Path: filepath.Join(dir, "agent.log"), RotateBytes: 100, RotateDuration: time.Hour, RotateMaxFiles: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	clock := time.Unix(1_700_000_000, 0)
	l.now = func() time.Time { clock = clock.Add(time.Millisecond); return clock }
	line := []byte(strings.Repeat("x", 39) + "\n") // 40 bytes: three lines pass 100
	for i := 0; i < 12; i++ {
		if _, err := l.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	// 12 lines, 3 per file: four files were written, the last is active.
	old := rotated(t, dir, "agent", ".log")
	if len(old) != 2 {
		t.Fatalf("kept %d rotated files, want 2 (log_rotate_max_files): %v", len(old), old)
	}
	for _, f := range append(old, filepath.Join(dir, "agent.log")) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 120 {
			t.Errorf("%s has %d bytes, want 3 lines (120)", f, len(b))
		}
	}
}

func TestLogFileRotatesByDuration(t *testing.T) {
	dir := t.TempDir()
	clock := time.Unix(1_700_000_000, 0)
	// No extension: rotated files get ".log", as in Consul.
	l, err := openLogFile(config.LogFile{Path: filepath.Join(dir, "agent"), RotateDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.now = func() time.Time { return clock }
	l.opened = clock
	l.Write([]byte("one\n"))
	clock = clock.Add(59 * time.Second)
	l.Write([]byte("two\n"))
	if n := len(rotated(t, dir, "agent", ".log")); n != 0 {
		t.Fatalf("rotated %d times before log_rotate_duration", n)
	}
	clock = clock.Add(time.Second)
	l.Write([]byte("three\n"))
	old := rotated(t, dir, "agent", ".log")
	if len(old) != 1 {
		t.Fatalf("rotated files %v, want one after log_rotate_duration", old)
	}
	if want := "agent-" + strconv.FormatInt(clock.UnixNano(), 10) + ".log"; filepath.Base(old[0]) != want {
		t.Errorf("rotated file %s, want %s", filepath.Base(old[0]), want)
	}
	if b, _ := os.ReadFile(old[0]); string(b) != "one\ntwo\n" {
		t.Errorf("rotated file holds %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "agent")); string(b) != "three\n" {
		t.Errorf("active file holds %q", b)
	}
	// 0 keeps every rotated file.
	for i := 0; i < 3; i++ {
		clock = clock.Add(time.Minute)
		l.Write([]byte("more\n"))
	}
	if n := len(rotated(t, dir, "agent", ".log")); n != 4 {
		t.Errorf("log_rotate_max_files 0 kept %d files, want all 4", n)
	}
}

func TestLogFileMaxFilesNegativeKeepsNone(t *testing.T) {
	dir := t.TempDir()
	// Left over from an earlier run: pruned at open.
	stale := filepath.Join(dir, "consulate-1600000000000000000.log")
	if err := os.WriteFile(stale, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := openLogFile(config.LogFile{Path: dir + "/", RotateBytes: 4, RotateDuration: time.Hour, RotateMaxFiles: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("old rotated file kept at open with log_rotate_max_files -1: %v", err)
	}
	for i := 0; i < 5; i++ {
		l.Write([]byte("abcd"))
	}
	if old := rotated(t, dir, "consulate", ".log"); len(old) != 0 {
		t.Errorf("log_rotate_max_files -1 kept %v", old)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "consulate.log")); string(b) != "abcd" {
		t.Errorf("active file holds %q", b)
	}
}

// TestAgentLogFileJSON runs an agent with log_file and log_json: the file
// gets the same JSON records as the console.
func TestAgentLogFileJSON(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs") + "/"
	opts := testOpts(t, "127.0.15.1", `, "log_file": "`+dir+`", "log_json": true, "log_level": "info"`)
	rt, err := config.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	var console bytes.Buffer
	a, err := New(rt, Options{LoadOpts: opts, LogOutput: &lockedBuffer{b: &console}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
	defer c()
	a.Shutdown(sctx)

	b, err := os.ReadFile(filepath.Join(dir, "consulate.log"))
	if err != nil {
		t.Fatal(err)
	}
	var started bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log file line is not JSON: %q", sc.Text())
		}
		if rec["msg"] == "agent started" && rec["level"] == "INFO" {
			started = true
		}
	}
	if !started {
		t.Errorf("log file has no JSON \"agent started\" record:\n%s", b)
	}
	if !bytes.Contains(b, []byte(`"msg":"shutting down agent"`)) {
		t.Errorf("log file misses records logged up to shutdown")
	}
}

// lockedBuffer is a bytes.Buffer safe for the agent's concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is what was written so far.
func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// httpGetOK fails unless GET url answers 200.
func httpGetOK(url string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// unixgramListener listens on a unixgram socket (for syslog datagrams or
// service manager notifications).
func unixgramListener(t *testing.T) (string, *net.UnixConn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return path, conn
}

var priRE = regexp.MustCompile(`^<(\d+)>`)

// TestSyslogFacilityAndSeverity sends the agent's records through -syslog
// to a socket and checks the <PRI> header: facility*8 + severity, with
// Consul's level-to-severity mapping.
func TestSyslogFacilityAndSeverity(t *testing.T) {
	path, conn := unixgramListener(t)
	opts := testOpts(t, "127.0.15.2", `, "enable_syslog": true, "syslog_facility": "local3", "log_level": "trace"`)
	rt, err := config.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(rt, Options{LoadOpts: opts, LogOutput: io.Discard, syslogNet: "unixgram", syslogAddr: path})
	if err != nil {
		t.Fatal(err)
	}
	defer a.closeLogs()
	ctx := context.Background()
	const local3 = 19
	cases := []struct {
		lvl      slog.Level
		msg      string
		severity syslog.Priority
	}{
		{LevelTrace, "a trace record", syslog.LOG_DEBUG},
		{slog.LevelDebug, "a debug record", syslog.LOG_INFO},
		{slog.LevelInfo, "an info record", syslog.LOG_NOTICE},
		{slog.LevelWarn, "a warn record", syslog.LOG_WARNING},
		{slog.LevelError, "an error record", syslog.LOG_ERR},
	}
	for _, tc := range cases {
		a.logger.Log(ctx, tc.lvl, tc.msg, "key", "value")
	}
	buf := make([]byte, 64<<10)
	got := map[string]int{}
	for len(got) < len(cases) {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("reading syslog datagrams (have %v): %v", got, err)
		}
		d := string(buf[:n])
		m := priRE.FindStringSubmatch(d)
		if m == nil {
			t.Fatalf("datagram without <PRI>: %q", d)
		}
		pri, _ := strconv.Atoi(m[1])
		for _, tc := range cases {
			if strings.Contains(d, tc.msg) {
				if !strings.Contains(d, "consulate") || !strings.Contains(d, "key=value") {
					t.Errorf("datagram %q lacks the tag or the attributes", d)
				}
				got[tc.msg] = pri
			}
		}
	}
	for _, tc := range cases {
		if want := local3*8 + int(tc.severity); got[tc.msg] != want {
			t.Errorf("%s: <PRI> %d (facility %d, severity %d), want %d (LOCAL3, severity %d)",
				tc.msg, got[tc.msg], got[tc.msg]/8, got[tc.msg]%8, want, tc.severity)
		}
	}
}

func TestSyslogFacilityNames(t *testing.T) {
	for name, want := range map[string]syslog.Priority{
		"": syslog.LOG_LOCAL0, "local7": syslog.LOG_LOCAL7, "DAEMON": syslog.LOG_DAEMON, "authpriv": syslog.LOG_AUTHPRIV,
	} {
		if got, err := syslogFacility(name); err != nil || got != want {
			t.Errorf("syslogFacility(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := syslogFacility("LOCAL9"); err == nil {
		t.Error("LOCAL9 accepted")
	}
}

// TestNotifyReadyAfterHTTPServes runs an agent under a fake service
// manager: READY=1 arrives once the HTTP API answers, STOPPING=1 on leave.
func TestNotifyReadyAfterHTTPServes(t *testing.T) {
	path, conn := unixgramListener(t)
	t.Setenv("NOTIFY_SOCKET", path)
	ip := "127.0.15.3"
	port := testutil.FreePort(t, ip)
	a := startAgent(t, testOpts(t, ip, ""), func(rt *config.Runtime) { rt.HTTPPort = port })
	buf := make([]byte, 4096)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	if got := string(buf[:n]); got != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", got)
	}
	// READY=1 was sent with the listener up: the API answers now.
	c := &net.Dialer{Timeout: 2 * time.Second}
	hc, err := c.Dial("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("HTTP port not listening at READY=1: %v", err)
	}
	hc.Close()
	testutil.WaitForErr(t, 5*time.Second, "GET /v1/agent/self", func() error {
		return httpGetOK("http://" + net.JoinHostPort(ip, strconv.Itoa(port)) + "/v1/agent/self")
	})
	go a.Leave(context.Background())
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err = conn.Read(buf)
	if err != nil {
		t.Fatalf("no notification on leave: %v", err)
	}
	if got := string(buf[:n]); got != "STOPPING=1" {
		t.Fatalf("notification on leave %q, want STOPPING=1", got)
	}
	select {
	case <-a.ShutdownCh():
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not shut down after leave")
	}
}

// TestLogFileReopenKeepsSizeAndAge: an agent restarted on an existing log
// file counts the bytes already in it and its age, so frequent restarts
// still rotate.
func TestLogFileReopenKeepsSizeAndAge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.log")
	if err := os.WriteFile(path, []byte(strings.Repeat("x", 90)+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	l, err := openLogFile(config.LogFile{Path: path, RotateBytes: 100, RotateDuration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	l.Write([]byte("0123456789\n")) // 102 bytes: the next write rotates
	l.Write([]byte("0123456789\n"))
	l.Close()
	if n := len(rotated(t, dir, "agent", ".log")); n != 1 {
		t.Fatalf("rotated %d files, want 1: the 91 bytes already there count toward log_rotate_bytes", n)
	}

	// Age: a file last written two hours ago is past a one-hour duration.
	dir = t.TempDir()
	path = filepath.Join(dir, "agent.log")
	if err := os.WriteFile(path, []byte("old\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(path, past, past); err != nil {
		t.Fatal(err)
	}
	l, err = openLogFile(config.LogFile{Path: path, RotateDuration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	l.Write([]byte("new\n"))
	l.Close()
	if n := len(rotated(t, dir, "agent", ".log")); n != 1 {
		t.Fatalf("rotated %d files, want 1: the file is older than log_rotate_duration", n)
	}
}
