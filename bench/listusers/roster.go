package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// listUsersOperation is how roster's request log names the measured query.
const listUsersOperation = "query ListUsers"

// startTimeout bounds how long roster may take to migrate and listen.
const startTimeout = time.Minute

// tailLines is how many of roster's last log lines an error quotes.
const tailLines = 20

// buildRoster builds the roster server into bin.
func buildRoster(ctx context.Context, bin string) error {
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "roster/server").CombinedOutput()
	if err != nil {
		return fmt.Errorf("build roster: %w\n%s", err, out)
	}
	return nil
}

// rosterProcess is a running roster server.
type rosterProcess struct {
	cmd *exec.Cmd
	// url is the server's base URL, like http://127.0.0.1:PORT.
	url string
	// listUsers counts the SQL statements of each ListUsers request, as
	// roster logs them.
	listUsers statementCounts
	// exited is closed when the process has exited and its log is read.
	exited  chan struct{}
	waitErr error

	mu   sync.Mutex
	tail []string
}

// startRoster starts bin on the database at dbURL, as a server on a free
// local port, and waits until it listens. Warnings and errors roster logs
// are copied to stderr.
func startRoster(ctx context.Context, bin, dbURL, email, password string, stderr io.Writer) (*rosterProcess, error) {
	cmd := exec.Command(bin,
		"-addr", "127.0.0.1:0",
		"-database-url", dbURL,
		"-admin-email", email,
		"-admin-password", password,
		"-log-format", "json",
		"-log-level", "info",
	)
	configureChild(cmd)
	logs, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("roster stderr: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start roster: %w", err)
	}
	p := &rosterProcess{cmd: cmd, exited: make(chan struct{})}
	listening := make(chan string, 1)
	go func() {
		p.readLog(logs, listening, stderr)
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case addr := <-listening:
		p.url = "http://" + addr
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("roster exited before listening (%v):\n%s", p.waitErr, p.lastLines())
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = fmt.Errorf("roster did not listen within %v:\n%s", startTimeout, p.lastLines())
	}
	return nil, errors.Join(err, p.stop(10*time.Second))
}

// logLine holds the fields of roster's JSON log lines that matter here.
type logLine struct {
	Msg           string `json:"msg"`
	Addr          string `json:"addr"`
	Operation     string `json:"operation"`
	SQLStatements *int64 `json:"sql_statements"`
}

// readLog reads roster's log until it ends: it sends the listening address
// to listening, records the SQL statements of each ListUsers request, and
// copies warnings and errors to stderr.
func (p *rosterProcess) readLog(r io.Reader, listening chan<- string, stderr io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		p.remember(string(line))
		switch {
		case bytes.Contains(line, []byte(`"msg":"request"`)):
			var l logLine
			if json.Unmarshal(line, &l) == nil && l.Operation == listUsersOperation && l.SQLStatements != nil {
				p.listUsers.add(*l.SQLStatements)
			}
		case bytes.Contains(line, []byte(`"msg":"listening"`)):
			var l logLine
			if json.Unmarshal(line, &l) == nil && l.Addr != "" {
				select {
				case listening <- l.Addr:
				default:
				}
			}
		}
		if bytes.Contains(line, []byte(`"level":"WARN"`)) || bytes.Contains(line, []byte(`"level":"ERROR"`)) || !bytes.HasPrefix(line, []byte("{")) {
			fmt.Fprintf(stderr, "roster: %s\n", line)
		}
	}
	// Keep draining whatever is left so that roster never blocks on a
	// full pipe, even after a scanning error.
	_, _ = io.Copy(io.Discard, r)
}

// remember keeps line among the last log lines.
func (p *rosterProcess) remember(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.tail) == tailLines {
		p.tail = append(p.tail[:0], p.tail[1:]...)
	}
	p.tail = append(p.tail, line)
}

// lastLines returns the last log lines, for error messages.
func (p *rosterProcess) lastLines() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// stop asks roster to shut down with SIGTERM and waits for it, killing it
// when it takes longer than timeout. It reports an unclean exit.
func (p *rosterProcess) stop(timeout time.Duration) error {
	select {
	case <-p.exited:
		return p.exitError()
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop roster: %w", err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.exited:
		return p.exitError()
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("roster did not stop within %v of SIGTERM and was killed", timeout)
	}
}

func (p *rosterProcess) exitError() error {
	if p.waitErr != nil {
		return fmt.Errorf("roster exited: %w\n%s", p.waitErr, p.lastLines())
	}
	return nil
}
