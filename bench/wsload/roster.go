package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// startTimeout bounds how long roster may take to migrate and listen.
const startTimeout = time.Minute

// maxCopiedLines is how many of roster's warnings and errors are copied to
// stderr.
const maxCopiedLines = 10

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
	// warnings and errors count the lines roster logged at those levels
	// before stop was called; stopWarnings those logged after.
	warnings, errors, stopWarnings atomic.Int64
	stopping                       atomic.Bool
	// copied counts the lines copied to stderr.
	copied int
	// firstStopWarning is the first line logged after stop was called.
	firstStopWarning string
	// exited is closed when the process has exited and its log is read.
	exited  chan struct{}
	waitErr error

	mu   sync.Mutex
	tail []string
}

// startRoster starts bin on the database at dbURL, as a server on a free
// local port, with the extra environment variables env, and waits until it
// listens. Warnings and errors roster logs are copied to stderr.
//
// roster logs the address it listens on at info level only, so with a
// quieter log the port is chosen here and probed until roster accepts
// connections on it.
func startRoster(ctx context.Context, bin, addr, dbURL, email, password, logLevel string, env []string, stderr io.Writer) (*rosterProcess, error) {
	if addr == "" {
		var err error
		if addr, err = freePort(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(bin,
		"-addr", addr,
		"-database-url", dbURL,
		"-admin-email", email,
		"-admin-password", password,
		"-log-format", "json",
		"-log-level", logLevel,
	)
	cmd.Env = append(os.Environ(), env...)
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
	probe := time.NewTicker(50 * time.Millisecond)
	defer probe.Stop()
	for {
		select {
		case a := <-listening:
			p.url = "http://" + a
			return p, nil
		case <-probe.C:
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				p.url = "http://" + addr
				return p, nil
			}
			continue
		case <-p.exited:
			return nil, fmt.Errorf("roster exited before listening (%v):\n%s", p.waitErr, p.lastLines())
		case <-ctx.Done():
			err = ctx.Err()
		case <-timer.C:
			err = fmt.Errorf("roster did not listen on %s within %v:\n%s", addr, startTimeout, p.lastLines())
		}
		return nil, errors.Join(err, p.stop(10*time.Second))
	}
}

// freePort returns a local address with a port no one listens on now.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// pid returns the roster process's ID.
func (p *rosterProcess) pid() int { return p.cmd.Process.Pid }

// readLog reads roster's log until it ends: it sends the listening address
// to listening and copies warnings and errors to stderr.
func (p *rosterProcess) readLog(r io.Reader, listening chan<- string, stderr io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		p.remember(string(line))
		if bytes.Contains(line, []byte(`"msg":"listening"`)) {
			var l struct {
				Addr string `json:"addr"`
			}
			if json.Unmarshal(line, &l) == nil && l.Addr != "" {
				select {
				case listening <- l.Addr:
				default:
				}
			}
		}
		warn := bytes.Contains(line, []byte(`"level":"WARN"`))
		bad := bytes.Contains(line, []byte(`"level":"ERROR"`)) || !bytes.HasPrefix(line, []byte("{"))
		if !warn && !bad {
			continue
		}
		switch {
		case p.stopping.Load():
			if p.stopWarnings.Add(1) == 1 {
				p.mu.Lock()
				p.firstStopWarning = string(line)
				p.mu.Unlock()
			}
		case warn:
			p.warnings.Add(1)
		default:
			p.errors.Add(1)
		}
		// Copy the first lines only: a problem with every connection
		// would otherwise flood the terminal.
		if p.copied++; p.copied <= maxCopiedLines {
			fmt.Fprintf(stderr, "roster: %s\n", line)
		} else if p.copied == maxCopiedLines+1 {
			fmt.Fprintf(stderr, "roster: (further warnings and errors are counted, not shown)\n")
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

// stopWarning returns the first warning or error logged after stop was
// called.
func (p *rosterProcess) stopWarning() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.firstStopWarning
}

// alive reports whether roster is still running.
func (p *rosterProcess) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop asks roster to shut down with SIGTERM and waits for it, killing it
// when it takes longer than timeout. It reports an unclean exit.
func (p *rosterProcess) stop(timeout time.Duration) error {
	select {
	case <-p.exited:
		return p.exitError()
	default:
	}
	p.stopping.Store(true)
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

// lockedWriter writes to w one call at a time.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// syncWriter returns w made safe to write from several goroutines.
func syncWriter(w io.Writer) io.Writer {
	if _, ok := w.(*lockedWriter); ok {
		return w
	}
	return &lockedWriter{w: w}
}
