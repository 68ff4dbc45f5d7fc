// Package mail sends the emails of the product (invitations, login codes).
// A mail is first written to an outbox table, in the transaction of what
// caused it, and a worker sends it afterwards, retrying with backoff until
// it goes through: a failed send never loses a mail.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"strings"
	"sync"
	"time"

	"roster/ent"
	entmail "roster/ent/mail"
	"roster/internal/viewer"
)

// Sender delivers one mail.
type Sender interface {
	Send(ctx context.Context, to, subject, body string) error
}

// Enqueue writes a mail to the outbox through client, which may be a
// transaction's: the mail is then sent only if it commits.
func Enqueue(ctx context.Context, client *ent.Client, to, subject, body string) error {
	if _, err := mail.ParseAddress(to); err != nil {
		return fmt.Errorf("mail to %q: %w", to, err)
	}
	return client.Mail.Create().SetTo(to).SetSubject(subject).SetBody(body).Exec(viewer.NewSystemContext(ctx))
}

// Worker sends the mails of the outbox.
type Worker struct {
	Client *ent.Client
	Sender Sender
	Log    *slog.Logger
	// Interval is how often the outbox is read when nobody kicks.
	Interval time.Duration
	// MaxAttempts bounds the sends of one mail; after that it stays in the
	// outbox, failed, for an operator to look at.
	MaxAttempts int
	Now         func() time.Time

	once sync.Once
	kick chan struct{}
}

func (w *Worker) init() {
	w.once.Do(func() {
		w.kick = make(chan struct{}, 1)
		if w.Interval <= 0 {
			w.Interval = 5 * time.Second
		}
		if w.MaxAttempts <= 0 {
			w.MaxAttempts = 10
		}
		if w.Now == nil {
			w.Now = time.Now
		}
	})
}

// Kick makes the worker read the outbox now, without waiting.
func (w *Worker) Kick() {
	w.init()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run sends mails until ctx is done.
func (w *Worker) Run(ctx context.Context) {
	w.init()
	t := time.NewTicker(w.Interval)
	defer t.Stop()
	for {
		if _, err := w.SendDue(ctx); err != nil && ctx.Err() == nil {
			w.Log.WarnContext(ctx, "send mails", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.kick:
		}
	}
}

// SendDue sends the mails that are due and returns how many went out.
func (w *Worker) SendDue(ctx context.Context) (int, error) {
	w.init()
	ctx = viewer.NewSystemContext(ctx)
	now := w.Now()
	due, err := w.Client.Mail.Query().
		Where(entmail.SentAtIsNil(), entmail.NextAttemptAtLTE(now), entmail.AttemptsLT(w.MaxAttempts)).
		Order(ent.Asc(entmail.FieldID)).
		Limit(50).
		All(ctx)
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	sent := 0
	for _, m := range due {
		err := w.Sender.Send(ctx, m.To, m.Subject, m.Body)
		up := w.Client.Mail.UpdateOneID(m.ID).AddAttempts(1)
		if err != nil {
			// Exponential backoff: 30 s, 1 min, 2 min, … up to an hour.
			wait := min(30*time.Second<<min(m.Attempts, 7), time.Hour)
			up.SetNextAttemptAt(now.Add(wait)).SetLastError(truncate(err.Error(), 500))
			w.Log.WarnContext(ctx, "mail not sent; will retry", "mail", m.ID, "attempt", m.Attempts+1, "retry_in", wait, "err", err)
		} else {
			up.SetSentAt(w.Now()).SetLastError("")
			sent++
		}
		if err := up.Exec(ctx); err != nil {
			return sent, fmt.Errorf("record mail %d: %w", m.ID, err)
		}
	}
	return sent, nil
}

// DevOutbox is the sender used when no SMTP server is configured: mails go
// to the log and stay in memory, where tests and developers can read them.
type DevOutbox struct {
	Log *slog.Logger

	mu    sync.Mutex
	mails []Message
}

// Message is a mail the DevOutbox received.
type Message struct {
	To, Subject, Body string
}

// Send keeps the mail and logs it.
func (o *DevOutbox) Send(ctx context.Context, to, subject, body string) error {
	o.mu.Lock()
	o.mails = append(o.mails, Message{To: to, Subject: subject, Body: body})
	o.mu.Unlock()
	// The body holds secrets (invitation links, login codes): the log
	// says only where its links lead, never their tokens.
	o.Log.InfoContext(ctx, "mail not sent: no SMTP server configured (set ROSTER_SMTP_URL); its body stays in the outbox",
		"to", to, "subject", subject, "links", linkTargets(body))
	return nil
}

// linkTargets lists the links of body without their query or fragment,
// where tokens travel.
func linkTargets(body string) []string {
	var out []string
	for _, f := range strings.Fields(body) {
		if !strings.HasPrefix(f, "http://") && !strings.HasPrefix(f, "https://") {
			continue
		}
		u, err := url.Parse(strings.TrimRight(f, ".,;)>\""))
		if err != nil {
			continue
		}
		out = append(out, u.Scheme+"://"+u.Host+u.EscapedPath())
	}
	return out
}

// Mails returns the mails received so far.
func (o *DevOutbox) Mails() []Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Message(nil), o.mails...)
}

// SMTP sends mails through an SMTP server.
type SMTP struct {
	addr, host string
	auth       smtp.Auth
	from       string
	implicit   bool // smtps: TLS from the first byte
}

// NewSMTP returns a sender for rawURL: smtp://user:password@host:587?from=noreply@example.com
// (STARTTLS when the server offers it) or smtps://…:465 (TLS from the
// start).
func NewSMTP(rawURL string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("ROSTER_SMTP_URL is not a URL")
	}
	if u.Scheme != "smtp" && u.Scheme != "smtps" {
		return nil, fmt.Errorf("ROSTER_SMTP_URL: scheme %q: want smtp or smtps", u.Scheme)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"smtp": "587", "smtps": "465"}[u.Scheme]
	}
	from := u.Query().Get("from")
	if _, err := mail.ParseAddress(from); err != nil {
		return nil, errors.New("ROSTER_SMTP_URL: add ?from=<sender address>")
	}
	s := &SMTP{addr: net.JoinHostPort(u.Hostname(), port), host: u.Hostname(), from: from, implicit: u.Scheme == "smtps"}
	if u.User != nil {
		pw, _ := u.User.Password()
		s.auth = smtp.PlainAuth("", u.User.Username(), pw, u.Hostname())
	}
	return s, nil
}

// Send delivers one plain-text mail.
func (s *SMTP) Send(ctx context.Context, to, subject, body string) error {
	d := net.Dialer{Timeout: 15 * time.Second}
	var conn net.Conn
	var err error
	if s.implicit {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: &tls.Config{ServerName: s.host}}).DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return fmt.Errorf("connect to %s: %w", s.addr, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	} else {
		conn.SetDeadline(time.Now().Add(time.Minute))
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("greet %s: %w", s.addr, err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok && !s.implicit {
		if err := c.StartTLS(&tls.Config{ServerName: s.host}); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if s.auth != nil {
		if err := c.Auth(s.auth); err != nil {
			return fmt.Errorf("authenticate: %w", err)
		}
	}
	if err := c.Mail(s.from); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("rcpt to: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	msg := "From: " + s.from + "\r\nTo: " + to + "\r\nSubject: " + mimeHeader(subject) +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nDate: " +
		time.Now().UTC().Format(time.RFC1123Z) + "\r\n\r\n" + strings.ReplaceAll(body, "\n", "\r\n")
	if _, err := w.Write([]byte(msg)); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end data: %w", err)
	}
	return c.Quit()
}

func mimeHeader(s string) string {
	return mime.QEncoding.Encode("utf-8", strings.NewReplacer("\r", " ", "\n", " ").Replace(s))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
